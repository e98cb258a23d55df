// A book's settings: its members and their roles, its sharing policy, the LLM that answers its
// questions. Every member may look; only the owner and admins see the controls that change things.
import { useQuery } from "@tanstack/react-query";
import { Settings } from "lucide-react";
import { Link, useParams } from "react-router";
import { keys, readBook } from "../api/endpoints";
import { currentUser } from "../api/session";
import { LlmSection } from "../book/LlmSettings";
import { MembersSection } from "../book/Members";
import { PolicySection } from "../book/Policy";
import { ErrorState, Loading } from "../components/ui";
import { manages } from "../lib/admin";

export function BookSettingsScreen() {
  const { book = "" } = useParams();
  const info = useQuery({ queryKey: keys.book(book), queryFn: () => readBook(book) });
  const me = useQuery({ queryKey: keys.me, queryFn: currentUser, staleTime: 60_000 });
  if (info.isPending || me.isPending) return <Loading label="Loading the book…" />;
  if (info.isError) return <ErrorState error={info.error} retry={() => void info.refetch()} />;
  if (me.isError) return <ErrorState error={me.error} retry={() => void me.refetch()} />;
  const myId = me.data?.id ?? "";
  return (
    <section className="page stack">
      <nav aria-label="Breadcrumb" className="crumbs">
        <Link to="/books">Books</Link> / <Link to={`/books/${book}`}>{info.data.name}</Link>
      </nav>
      <h1>
        <Settings size={22} aria-hidden /> {info.data.name}: settings
      </h1>
      <p className="muted">
        You are {info.data.role === "owner" ? "the owner" : `${info.data.role === "admin" ? "an" : "a"} ${info.data.role}`} of this book.
        {manages(info.data.role) && (
          <>
            {" "}
            <Link to={`/books/${book}/all-chapters`}>See all its chapters</Link>.
          </>
        )}
      </p>
      <MembersSection book={book} myRole={info.data.role} me={myId} />
      <PolicySection book={info.data} />
      <LlmSection book={book} myRole={info.data.role} />
    </section>
  );
}
