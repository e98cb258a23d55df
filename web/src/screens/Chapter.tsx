// A chapter: its sources (search, connected libraries) beside the chat, and the passage a
// citation opens. Back from signing in to a library's service (`?connector=`), it opens the
// Libraries tab, says so and syncs the new connector; `?connector_error=` says why not.
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
import { SignInNotice, useSignInReturn } from "../chapter/SignInReturn";
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
  const [signedIn, dismissSignIn] = useSignInReturn();
  // The connector a sign-in just made is synced once (the callback made it without syncing).
  const [autoSync, setAutoSync] = useState<string | null>(signedIn?.connector ?? null);
  const [tab, setTab] = useState<Tab>(signedIn ? "libraries" : "sources");
  const [passage, setPassage] = useState<PassageTarget | null>(null);
  const [sharing, setSharing] = useState(false);

  if (info.isPending) return <Loading label="Opening the chapter…" />;
  if (info.isError) return <ErrorState error={info.error} retry={() => void info.refetch()} />;
  // A live mirror takes no connector: its sources come from the owner's chapter.
  const tabs: Tab[] = sharedKind(info.data) === "mirror" ? ["sources", "search"] : ["sources", "search", "libraries"];
  const shown = tabs.includes(tab) ? tab : "sources";

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
      {signedIn && <SignInNotice chapter={chapter} outcome={signedIn} dismiss={dismissSignIn} />}
      <div className="chapter-grid">
        <div className="chapter-side">
          <div className="tabs" role="tablist" aria-label="Chapter views">
            {tabs.map((t) => (
              <button
                key={t}
                type="button"
                role="tab"
                id={`tab-${t}`}
                aria-selected={shown === t}
                aria-controls={`tabpanel-${t}`}
                className="tab"
                onClick={() => setTab(t)}
              >
                {TAB_LABELS[t]}
              </button>
            ))}
          </div>
          <div role="tabpanel" id={`tabpanel-${shown}`} aria-labelledby={`tab-${shown}`}>
            {shown === "sources" ? (
              <SourcesPanel chapter={chapter} feed={feed} open={setPassage} />
            ) : shown === "search" ? (
              <SearchPanel chapter={chapter} open={setPassage} />
            ) : (
              <ConnectorsPanel chapter={chapter} autoSync={autoSync} onAutoSynced={() => setAutoSync(null)} />
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
