import { useQuery, useQueryClient } from "@tanstack/react-query";
import { ChevronRight, LayoutList, NotebookText, Settings } from "lucide-react";
import { Link, useParams } from "react-router";
import { createChapter, keys, listChapters, readBook } from "../api/endpoints";
import { SharedMark } from "../chapter/SharedMark";
import { sharedKind } from "../lib/sharing";
import { CreateForm } from "../components/CreateForm";
import { QueryView } from "../components/ui";
import { manages } from "../lib/admin";

/** The book's settings (every member may look) and, for its owner and admins only, all chapters. */
function BookLinks({ book, role }: { book: string; role: string | undefined }) {
  if (!role) return null;
  return (
    <nav className="actions" aria-label="This book">
      <Link className="btn" to={`/books/${book}/settings`}>
        <Settings size={16} aria-hidden /> {manages(role) ? "Members and settings" : "Members"}
      </Link>
      {manages(role) && (
        <Link className="btn" to={`/books/${book}/all-chapters`}>
          <LayoutList size={16} aria-hidden /> All chapters
        </Link>
      )}
    </nav>
  );
}

export function BookScreen() {
  const { book = "" } = useParams();
  const queryClient = useQueryClient();
  const info = useQuery({ queryKey: keys.book(book), queryFn: () => readBook(book) });
  const chapters = useQuery({
    queryKey: keys.chapters(book),
    queryFn: () => listChapters(book),
    // A live mirror leaves the book when its share ends: look again now and then while one is here.
    refetchInterval: (q) => (q.state.data?.some((c) => sharedKind(c) === "mirror") ? 30_000 : false),
  });
  return (
    <section className="page">
      <nav aria-label="Breadcrumb" className="crumbs">
        <Link to="/books">Books</Link>
      </nav>
      <h1>
        <NotebookText size={22} aria-hidden /> {info.data?.name ?? "Book"}
      </h1>
      <BookLinks book={book} role={info.data?.role} />
      <QueryView
        query={chapters}
        loading="Loading chapters…"
        isEmpty={(list) => list.length === 0}
        empty="No chapters yet. A chapter is a notebook: create one, then add sources to it."
      >
        {(list) => (
          <ul className="list" aria-label="Chapters">
            {list.map((chapter) => (
              <li key={chapter.id}>
                <Link className="row-link" to={`/chapters/${chapter.id}`}>
                  <span className="row-title">{chapter.title}</span>
                  <SharedMark chapter={chapter} />
                  <ChevronRight size={18} aria-hidden />
                </Link>
              </li>
            ))}
          </ul>
        )}
      </QueryView>
      <CreateForm
          label="New chapter"
          action="Create chapter"
          create={(title) => createChapter(book, title)}
          onCreated={() => {
            void queryClient.invalidateQueries({ queryKey: keys.chapters(book) });
            void queryClient.invalidateQueries({ queryKey: keys.books });
          }}
        />
    </section>
  );
}
