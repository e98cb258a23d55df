// The screens, by path. A new screen is one entry here (lazy when it is not on the first screen,
// so the first load stays small). Paths never shadow the server's own: /v1, /docs, /openapi.json,
// /health and /metrics.
import { createBrowserRouter, Navigate } from "react-router";
import { ErrorState } from "../components/ui";
import { BooksScreen } from "../screens/Books";
import { SignInScreen } from "../screens/SignIn";
import { Shell, SignedIn } from "./Shell";

export const router = createBrowserRouter([
  {
    element: <Shell />,
    errorElement: <ErrorState error={new Error("This page could not be shown.")} />,
    children: [
      { path: "/signin", element: <SignInScreen mode="signin" /> },
      { path: "/signup", element: <SignInScreen mode="signup" /> },
      {
        // Signs in on its own, keeping the share link's token (in the fragment) across sign-in.
        path: "/accept",
        lazy: async () => ({ Component: (await import("../screens/Accept")).AcceptScreen }),
      },
      {
        element: <SignedIn />,
        children: [
          { index: true, element: <Navigate to="/books" replace /> },
          { path: "/books", element: <BooksScreen /> },
          {
            path: "/books/:book",
            lazy: async () => ({ Component: (await import("../screens/Book")).BookScreen }),
          },
          {
            path: "/books/:book/settings",
            lazy: async () => ({
              Component: (await import("../screens/BookSettings")).BookSettingsScreen,
            }),
          },
          {
            path: "/books/:book/all-chapters",
            lazy: async () => ({
              Component: (await import("../screens/AllChapters")).AllChaptersScreen,
            }),
          },
          {
            path: "/tokens",
            lazy: async () => ({ Component: (await import("../screens/Tokens")).TokensScreen }),
          },
          {
            path: "/chapters/:chapter/sources/:source",
            lazy: async () => ({ Component: (await import("../screens/Source")).SourceScreen }),
          },
          {
            path: "/chapters/:chapter",
            lazy: async () => ({ Component: (await import("../screens/Chapter")).ChapterScreen }),
          },
          {
            path: "/chapters/:chapter/history",
            lazy: async () => ({ Component: (await import("../screens/History")).HistoryScreen }),
          },
        ],
      },
      { path: "*", element: <NotFound /> },
    ],
  },
]);

function NotFound() {
  return <ErrorState error={new Error("There is no page at this address.")} />;
}
