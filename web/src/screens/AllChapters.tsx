// The admin view of a book: every chapter in it, whoever it is assigned to, filtered by title or
// member, each reassignable. Only the owner and admins reach it (the server lists only a member's
// own chapters to anyone else, so the screen says so rather than show a partial list).
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { ChevronRight, LayoutList, Share2 } from "lucide-react";
import { useId, useMemo, useState } from "react";
import { Link, useParams } from "react-router";
import { adminKeys, listMembers, reassignChapter, type Member } from "../api/admin";
import { keys, listChapters, readBook } from "../api/endpoints";
import { describe } from "../api/http";
import type { Chapter } from "../api/types";
import { Empty, ErrorState, Field, Loading } from "../components/ui";
import { filterChapters, manages } from "../lib/admin";

export function AllChaptersScreen() {
  const { book = "" } = useParams();
  const info = useQuery({ queryKey: keys.book(book), queryFn: () => readBook(book) });
  const admin = manages(info.data?.role);
  const chapters = useQuery({
    queryKey: keys.chapters(book),
    queryFn: () => listChapters(book),
    enabled: admin,
  });
  const members = useQuery({
    queryKey: adminKeys.members(book),
    queryFn: () => listMembers(book),
    enabled: admin,
  });
  const [query, setQuery] = useState("");
  const [assignee, setAssignee] = useState("");
  const filterId = useId();
  const emails = useMemo(
    () => new Map((members.data ?? []).map((m) => [m.user, m.email] as const)),
    [members.data],
  );

  const crumbs = (
    <nav aria-label="Breadcrumb" className="crumbs">
      <Link to="/books">Books</Link> / <Link to={`/books/${book}`}>{info.data?.name ?? "Book"}</Link>
    </nav>
  );
  if (info.isPending) return <Loading label="Loading the book…" />;
  if (info.isError) return <ErrorState error={info.error} retry={() => void info.refetch()} />;
  if (!admin) {
    return (
      <section className="page">
        {crumbs}
        <ErrorState error={new Error("Only the book's owner and admins see all of its chapters.")} />
      </section>
    );
  }
  const failed = chapters.error ?? members.error;
  const shown = filterChapters(chapters.data ?? [], emails, query, assignee);
  const accounts = (members.data ?? []).filter((m) => !m.pending);
  return (
    <section className="page">
      {crumbs}
      <h1>
        <LayoutList size={22} aria-hidden /> All chapters of {info.data.name}
      </h1>
      <p className="muted">
        Every chapter in the book, whoever it is assigned to. Members see only their own.
      </p>
      {failed ? (
        <ErrorState
          error={failed}
          retry={() => {
            void chapters.refetch();
            void members.refetch();
          }}
        />
      ) : chapters.data === undefined || members.isPending ? (
        <Loading label="Loading chapters…" />
      ) : chapters.data.length === 0 ? (
        <Empty>This book has no chapters yet.</Empty>
      ) : (
        <>
          <div className="inline-form" role="search" aria-label="Filter chapters">
            <Field label="Title contains" value={query} onChange={(e) => setQuery(e.target.value)} />
            <div className="field field-narrow">
              <label htmlFor={filterId}>Assigned to</label>
              <select id={filterId} value={assignee} onChange={(e) => setAssignee(e.target.value)}>
                <option value="">anyone</option>
                {accounts.map((m) => (
                  <option key={m.user} value={m.user}>
                    {m.email}
                  </option>
                ))}
              </select>
            </div>
          </div>
          <p className="muted small" role="status">
            {shown.length} of {chapters.data.length} chapter{chapters.data.length === 1 ? "" : "s"}
          </p>
          {shown.length === 0 ? (
            <Empty>No chapter matches.</Empty>
          ) : (
            <ul className="list" aria-label="All chapters">
              {shown.map((chapter) => (
                <ChapterRow
                  key={chapter.id}
                  book={book}
                  chapter={chapter}
                  members={accounts}
                  email={emails.get(chapter.assignee) ?? chapter.assignee}
                />
              ))}
            </ul>
          )}
        </>
      )}
    </section>
  );
}

function ChapterRow({
  book,
  chapter,
  members,
  email,
}: {
  book: string;
  chapter: Chapter;
  members: Member[];
  email: string;
}) {
  const queryClient = useQueryClient();
  const selectId = useId();
  // The pick shows from the click until the saved chapter replaces it in the list: derived from
  // the mutation alone, the old assignee came back for a moment before the save began and
  // again until the list was read anew.
  const [chosen, setChosen] = useState<string | null>(null);
  const move = useMutation({
    mutationFn: (assignee: string) => reassignChapter(chapter.id, assignee),
    onSuccess: (saved) => {
      queryClient.setQueryData<Chapter[]>(keys.chapters(book), (list) =>
        list?.map((c) => (c.id === saved.id ? saved : c)),
      );
      void queryClient.invalidateQueries({ queryKey: keys.chapters(book) });
    },
    onSettled: () => setChosen(null),
  });
  return (
    <li className="row">
      <div className="row-main">
        <Link to={`/chapters/${chapter.id}`} className="row-title">
          {chapter.title}
        </Link>
        <span className="muted small">
          assigned to {email}
          {chapter.share && (
            <span className="badge">
              <Share2 size={12} aria-hidden /> shared
            </span>
          )}
        </span>
        {move.isError && (
          <p className="error-text" role="alert">
            Could not reassign: {describe(move.error)}
          </p>
        )}
      </div>
      <label htmlFor={selectId} className="sr-only">
        Assign “{chapter.title}” to
      </label>
      <select
        id={selectId}
        value={chosen ?? chapter.assignee}
        disabled={move.isPending}
        onChange={(e) => {
          setChosen(e.target.value);
          move.mutate(e.target.value);
        }}
      >
        {!members.some((m) => m.user === chapter.assignee) && (
          <option value={chapter.assignee}>{email}</option>
        )}
        {members.map((m) => (
          <option key={m.user} value={m.user}>
            {m.email}
          </option>
        ))}
      </select>
      <Link to={`/chapters/${chapter.id}`} className="btn btn-icon" aria-label={`Open ${chapter.title}`}>
        <ChevronRight size={18} aria-hidden />
      </Link>
    </li>
  );
}
