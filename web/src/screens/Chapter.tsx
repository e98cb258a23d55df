// A chapter: its sources (search, connected libraries) beside the chat, and the passage a
// citation opens.
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { History, Share2 } from "lucide-react";
import { Link, useParams } from "react-router";
import { keys, readBook, readChapter } from "../api/endpoints";
import { ChatPanel } from "../chapter/Chat";
import { ConnectorsPanel } from "../chapter/Connectors";
import { PassageDialog, type PassageTarget } from "../chapter/Passage";
import { SearchPanel } from "../chapter/Search";
import { SourcesPanel } from "../chapter/Sources";
import { useChangeFeed } from "../chapter/useChangeFeed";
import { ShareDialog } from "../chapter/ShareDialog";
import { SharedMark } from "../chapter/SharedMark";
import { Button, ErrorState, Loading } from "../components/ui";
import { sharedKind } from "../lib/sharing";

type Tab = "sources" | "search" | "libraries";

const TAB_LABELS: Record<Tab, string> = { sources: "Sources", search: "Search", libraries: "Libraries" };

export function ChapterScreen() {
  const { chapter = "" } = useParams();
  const info = useQuery({ queryKey: keys.chapter(chapter), queryFn: () => readChapter(chapter) });
  // The breadcrumb names the book (a guest of a shared chapter may not read it: "Book" then).
  const book = useQuery({
    queryKey: keys.book(info.data?.book ?? ""),
    queryFn: () => readBook(info.data?.book ?? ""),
    enabled: info.data !== undefined,
  });
  const feed = useChangeFeed(chapter);
  const [tab, setTab] = useState<Tab>("sources");
  const [passage, setPassage] = useState<PassageTarget | null>(null);
  const [sharing, setSharing] = useState(false);

  if (info.isPending) return <Loading label="Opening the chapter…" />;
  if (info.isError) return <ErrorState error={info.error} retry={() => void info.refetch()} />;
  // A live mirror takes no connector: its sources come from the owner's chapter.
  const tabs: Tab[] = sharedKind(info.data) === "mirror" ? ["sources", "search"] : ["sources", "search", "libraries"];

  return (
    <section className="chapter">
      <nav aria-label="Breadcrumb" className="crumbs">
        <Link to="/books">Books</Link> / <Link to={`/books/${info.data.book}`}>{book.data?.name ?? "Book"}</Link>
      </nav>
      <div className="chapter-head">
        <h1>{info.data.title}</h1>
        <SharedMark chapter={info.data} />
        <div className="row-actions">
          <Link className="btn btn-secondary" to={`/chapters/${chapter}/history`}>
            <History size={16} aria-hidden /> History
          </Link>
          {sharedKind(info.data) !== "mirror" && (
            <Button onClick={() => setSharing(true)}>
              <Share2 size={16} aria-hidden /> Share
            </Button>
          )}
        </div>
      </div>
      <div className="chapter-grid">
        <div className="chapter-side">
          <div className="tabs" role="tablist" aria-label="Chapter views">
            {tabs.map((t) => (
              <button
                key={t}
                type="button"
                role="tab"
                id={`tab-${t}`}
                aria-selected={tab === t}
                aria-controls={`tabpanel-${t}`}
                className="tab"
                onClick={() => setTab(t)}
              >
                {TAB_LABELS[t]}
              </button>
            ))}
          </div>
          <div role="tabpanel" id={`tabpanel-${tab}`} aria-labelledby={`tab-${tab}`}>
            {tab === "sources" ? (
              <SourcesPanel chapter={chapter} feed={feed} open={setPassage} />
            ) : tab === "search" ? (
              <SearchPanel chapter={chapter} open={setPassage} />
            ) : (
              <ConnectorsPanel chapter={chapter} />
            )}
          </div>
        </div>
        <ChatPanel chapter={chapter} open={setPassage} />
      </div>
      <PassageDialog chapter={chapter} target={passage} onClose={() => setPassage(null)} />
      <ShareDialog chapter={chapter} book={info.data.book} open={sharing} onClose={() => setSharing(false)} />
    </section>
  );
}
