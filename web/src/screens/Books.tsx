import { useQuery, useQueryClient } from "@tanstack/react-query";
import { ChevronRight, Library } from "lucide-react";
import { Link } from "react-router";
import { createBook, keys, listBooks } from "../api/endpoints";
import { SignInNotice, useSignInReturn } from "../chapter/SignInReturn";
import { CreateForm } from "../components/CreateForm";
import { QueryView } from "../components/ui";

export function BooksScreen() {
  const queryClient = useQueryClient();
  const books = useQuery({ queryKey: keys.books, queryFn: listBooks });
  // A sign-in the server could not match to a chapter comes back here (`oauth_state_invalid`).
  const [signedIn, dismissSignIn] = useSignInReturn();
  return (
    <section className="page">
      <h1>
        <Library size={22} aria-hidden /> Books
      </h1>
      {signedIn && <SignInNotice outcome={signedIn} dismiss={dismissSignIn} />}
      <p className="muted">A book is a team; its chapters are notebooks of sources.</p>
      <QueryView
        query={books}
        loading="Loading your books…"
        isEmpty={(list) => list.length === 0}
        empty="You have no books yet. Create one below."
      >
        {(list) => (
          <ul className="list" aria-label="Your books">
            {list.map((book) => (
              <li key={book.id}>
                <Link className="row-link" to={`/books/${book.id}`}>
                  <span className="row-title">{book.name}</span>
                  <span className="muted">
                    {book.role} · {book.chapters} chapter{book.chapters === 1 ? "" : "s"} ·{" "}
                    {book.members} member{book.members === 1 ? "" : "s"}
                  </span>
                  <ChevronRight size={18} aria-hidden />
                </Link>
              </li>
            ))}
          </ul>
        )}
      </QueryView>
      <CreateForm
        label="New book"
        action="Create book"
        create={createBook}
        onCreated={() => void queryClient.invalidateQueries({ queryKey: keys.books })}
      />
    </section>
  );
}
