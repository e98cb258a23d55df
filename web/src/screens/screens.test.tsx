// Screens render their first state without a browser (server-side rendering in Node): a smoke
// test that each mounts, labels its controls and starts in a loading state rather than blank.
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import type { ReactNode } from "react";
import { renderToString } from "react-dom/server";
import { MemoryRouter, Route, Routes } from "react-router";
import { describe, expect, it } from "vitest";
import { BookScreen } from "./Book";
import { BooksScreen } from "./Books";
import { SignInScreen } from "./SignIn";

function render(path: string, pattern: string, screen: ReactNode): string {
  return renderToString(
    <QueryClientProvider client={new QueryClient()}>
      <MemoryRouter initialEntries={[path]}>
        <Routes>
          <Route path={pattern} element={screen} />
        </Routes>
      </MemoryRouter>
    </QueryClientProvider>,
  );
}

describe("screens", () => {
  it("sign-in labels its fields and links to sign-up", () => {
    const html = render("/signin", "/signin", <SignInScreen mode="signin" />);
    expect(html).toContain("E-mail");
    expect(html).toContain("Password");
    expect(html).toMatch(/<label[^>]*for=/);
    expect(html).toContain('href="/signup"');
  });

  it("sign-up asks for a name too", () => {
    expect(render("/signup", "/signup", <SignInScreen mode="signup" />)).toContain("Name");
  });

  it("the books list starts loading, with its create form", () => {
    const html = render("/books", "/books", <BooksScreen />);
    expect(html).toContain("Loading your books");
    expect(html).toContain("New book");
  });

  it("a book's chapters start loading", () => {
    expect(render("/books/b1", "/books/:book", <BookScreen />)).toContain("Loading chapters");
  });
});
