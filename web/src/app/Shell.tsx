// The frame around every screen (header, theme toggle, sign-out) and the guard that sends a
// signed-out user to the sign-in screen, coming back to where they were afterwards.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { BookOpen, KeyRound, LogOut } from "lucide-react";
import { useEffect } from "react";
import { Link, Navigate, Outlet, useLocation, useNavigate } from "react-router";
import { keys } from "../api/endpoints";
import { currentUser, onSignedOut, signOut } from "../api/session";
import { ThemeToggle } from "../components/theme";
import { Button, ErrorState, Loading } from "../components/ui";

export function Shell() {
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const location = useLocation();
  const me = useQuery({ queryKey: keys.me, queryFn: currentUser, staleTime: 60_000 });

  useEffect(
    () =>
      onSignedOut((error) => {
        const here = window.location.pathname + window.location.search;
        queryClient.clear();
        queryClient.setQueryData(keys.me, null);
        if (!window.location.pathname.startsWith("/sign")) {
          navigate(`/signin?next=${encodeURIComponent(here)}`, {
            state: { reason: error.code === "session_expired" ? "expired" : "signed-out" },
          });
        }
      }),
    [navigate, queryClient],
  );

  async function leave() {
    await signOut();
    queryClient.clear();
    queryClient.setQueryData(keys.me, null);
    navigate("/signin");
  }

  return (
    <div className="app">
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <Link to="/books" className="brand">
          <BookOpen size={20} aria-hidden /> RagStack
        </Link>
        <div className="topbar-end">
          <ThemeToggle />
          {me.data && (
            <>
              <span className="muted hide-narrow" title={me.data.email}>
                {me.data.name || me.data.email}
              </span>
              <Link className="btn btn-ghost" to="/tokens" title="API tokens" aria-label="API tokens">
                <KeyRound size={16} aria-hidden /> <span className="hide-narrow">API tokens</span>
              </Link>
              <Button variant="ghost" onClick={() => void leave()}>
                <LogOut size={16} aria-hidden /> Sign out
              </Button>
            </>
          )}
        </div>
      </header>
      <main id="main" tabIndex={-1} key={location.pathname.split("/")[1]}>
        <Outlet />
      </main>
    </div>
  );
}

/** Renders its screens only for a signed-in user. */
export function SignedIn() {
  const me = useQuery({ queryKey: keys.me, queryFn: currentUser, staleTime: 60_000 });
  const location = useLocation();
  if (me.isPending) return <Loading />;
  if (me.isError) return <ErrorState error={me.error} retry={() => void me.refetch()} />;
  if (me.data === null) {
    const next = encodeURIComponent(location.pathname + location.search);
    return <Navigate to={`/signin?next=${next}`} replace />;
  }
  return <Outlet />;
}
