// Accepting a share link (`/accept#token=…`): a signed-in guest picks one of their books and the
// shared chapter joins it, as a copy of their own or a live mirror.
//
// The token rides in the URL's fragment, never its query string: browsers do not send the
// fragment to any server, so it stays out of access logs, proxies and Referer headers. This
// screen moves it to the tab's sessionStorage (so it survives signing in) and wipes it from the
// address bar and history at once; it is forgotten as soon as the share is accepted.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { CheckCircle2, Inbox, Share2 } from "lucide-react";
import { useEffect, useId, useState, type FormEvent } from "react";
import { Link } from "react-router";
import { createBook, keys, listBooks } from "../api/endpoints";
import { currentUser } from "../api/session";
import { acceptShare } from "../api/sharing";
import type { Chapter } from "../api/types";
import { CreateForm } from "../components/CreateForm";
import { Button, ErrorState, Field, Loading, QueryView } from "../components/ui";
import { forgetPendingToken, parseShareInput, pendingToken, shareError } from "../lib/sharing";

function storage(): Storage | undefined {
  try {
    return globalThis.sessionStorage;
  } catch {
    return undefined;
  }
}

export function AcceptScreen() {
  const [token, setToken] = useState(() =>
    typeof window === "undefined" ? null : pendingToken(window.location.hash, storage()),
  );
  const [visit, setVisit] = useState(0);
  useEffect(() => {
    function clear() {
      if (window.location.hash) {
        window.history.replaceState(window.history.state, "", window.location.pathname);
      }
    }
    // Another link opened in this tab changes only the fragment: no new page load.
    function onHash() {
      const next = pendingToken(window.location.hash, storage());
      clear();
      if (next) {
        setToken(next);
        setVisit((v) => v + 1); // a fresh form, even for a link opened again
      }
    }
    clear();
    window.addEventListener("hashchange", onHash);
    return () => window.removeEventListener("hashchange", onHash);
  }, []);
  const me = useQuery({ queryKey: keys.me, queryFn: currentUser, staleTime: 60_000 });

  return (
    <section className="page accept">
      <h1>
        <Share2 size={22} aria-hidden /> Accept a shared chapter
      </h1>
      {me.isPending ? (
        <Loading />
      ) : me.isError ? (
        <ErrorState error={me.error} retry={() => void me.refetch()} />
      ) : me.data === null ? (
        <div className="card">
          <p>Sign in (or create an account with the address the chapter was shared with) to accept it.</p>
          <p className="row-actions">
            <Link className="btn btn-primary" to="/signin?next=/accept">
              Sign in
            </Link>
            <Link className="btn btn-secondary" to="/signup?next=/accept">
              Create an account
            </Link>
          </p>
        </div>
      ) : (
        <AcceptForm key={visit} initial={token} />
      )}
    </section>
  );
}

function AcceptForm({ initial }: { initial: string | null }) {
  const queryClient = useQueryClient();
  const books = useQuery({ queryKey: keys.books, queryFn: listBooks });
  const [pasted, setPasted] = useState("");
  const [book, setBook] = useState("");
  const [from, setFrom] = useState("");
  const [invalid, setInvalid] = useState<string | null>(null);
  const [accepted, setAccepted] = useState<Chapter | null>(null);
  const selectId = useId();
  const accept = useMutation({
    mutationFn: (input: { token: string; book: string; from: string | null }) =>
      acceptShare(input.token, input.book, input.from),
    onSuccess: (chapter) => {
      forgetPendingToken(storage());
      setAccepted(chapter);
      void queryClient.invalidateQueries({ queryKey: keys.chapters(chapter.book) });
      void queryClient.invalidateQueries({ queryKey: keys.books });
    },
  });

  if (accepted) {
    const kind = accepted.forked_from ? "a copy of your own" : "a live mirror of the owner's chapter";
    return (
      <div className="card" role="status">
        <p>
          <CheckCircle2 size={18} aria-hidden className="ok" /> “{accepted.title}” is now in your book,
          as {kind}.
        </p>
        <p className="row-actions">
          <Link className="btn btn-primary" to={`/chapters/${accepted.id}`}>
            Open the chapter
          </Link>
          <Link className="btn btn-secondary" to={`/books/${accepted.book}`}>
            Go to the book
          </Link>
        </p>
      </div>
    );
  }

  function onSubmit(event: FormEvent) {
    event.preventDefault();
    const parsed = initial ? { token: initial, from: null } : parseShareInput(pasted, window.location.origin);
    if (!parsed) {
      setInvalid("Paste the share link (…/accept#token=…) or the token the owner sent you.");
      return;
    }
    const chosen = book || books.data?.[0]?.id;
    if (!chosen) {
      setInvalid("Create a book to put the chapter in first.");
      return;
    }
    setInvalid(null);
    accept.mutate({ token: parsed.token, book: chosen, from: from.trim() || parsed.from });
  }

  const error = invalid ?? (accept.isError ? shareError(accept.error) : null);
  return (
    <QueryView query={books} loading="Loading your books…">
      {(list) =>
        list.length === 0 ? (
          <div className="card">
            <p className="state state-empty">
              <Inbox size={20} aria-hidden /> You have no book to put the chapter in yet.
            </p>
            <CreateForm
              label="New book"
              action="Create book"
              create={createBook}
              onCreated={() => void queryClient.invalidateQueries({ queryKey: keys.books })}
            />
          </div>
        ) : (
          <form className="card share-form" onSubmit={onSubmit}>
            {initial ? (
              <p>Someone shared a chapter with you. Choose the book it goes into.</p>
            ) : (
              <Field
                label="Share link or token"
                value={pasted}
                autoComplete="off"
                onChange={(e) => setPasted(e.target.value)}
                hint="The link (…/accept#token=…) or the token the chapter's owner sent you."
              />
            )}
            <div className="field">
              <label htmlFor={selectId}>Into the book</label>
              <select id={selectId} value={book || list[0]!.id} onChange={(e) => setBook(e.target.value)}>
                {list.map((b) => (
                  <option key={b.id} value={b.id}>
                    {b.name}
                  </option>
                ))}
              </select>
            </div>
            <details>
              <summary>Shared from another server?</summary>
              <Field
                label="The owner's server"
                type="url"
                placeholder="https://ragstack.example.org"
                value={from}
                onChange={(e) => setFrom(e.target.value)}
                hint="Only when the owner's RagStack is not this one."
              />
            </details>
            {error && (
              <p className="error-text" role="alert">
                {error}
              </p>
            )}
            <Button type="submit" variant="primary" busy={accept.isPending}>
              Accept
            </Button>
          </form>
        )
      }
    </QueryView>
  );
}
