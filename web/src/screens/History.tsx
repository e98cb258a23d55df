// A chapter's history: its events as a timeline (who, when, what; newest first, loaded a page at
// a time as the reader scrolls), the chapter as it was at a chosen revision, what changed between
// two revisions, and a verification of the whole log (hash chain, signed heads and the Merkle
// roots they name), saying exactly what failed if anything did.
import { useInfiniteQuery, useMutation, useQuery } from "@tanstack/react-query";
import { History as HistoryIcon, RotateCw, ShieldAlert, ShieldCheck } from "lucide-react";
import { useEffect, useId, useRef, useState, type FormEvent } from "react";
import { Link, useParams } from "react-router";
import { keys, readChapter } from "../api/endpoints";
import { currentUser } from "../api/session";
import {
  HISTORY_PAGE,
  listMembers,
  listShares,
  readDiff,
  readHistory,
  readState,
  sharingKeys,
  verifyChapter,
  type ChapterState,
  type Diff,
  type HistoryEntry,
  type StateSource,
} from "../api/sharing";
import { Button, ErrorState, Field, Loading, QueryView, formatBytes } from "../components/ui";
import { VirtualList } from "../components/VirtualList";
import {
  actorKind,
  actorLabel,
  diffRangeError,
  formatWhen,
  newestFirst,
  newestPage,
  olderPage,
  revError,
  short,
  verdict,
  type PageParam,
} from "../lib/history";

export function HistoryScreen() {
  const { chapter = "" } = useParams();
  const info = useQuery({ queryKey: keys.chapter(chapter), queryFn: () => readChapter(chapter) });
  const [selected, setSelected] = useState<number | null>(null);

  if (info.isPending) return <Loading label="Opening the chapter's history…" />;
  if (info.isError) return <ErrorState error={info.error} retry={() => void info.refetch()} />;
  const head = info.data.rev ?? 0;

  return (
    <section className="page history">
      <nav aria-label="Breadcrumb" className="crumbs">
        <Link to="/books">Books</Link> / <Link to={`/books/${info.data.book}`}>Book</Link> /{" "}
        <Link to={`/chapters/${chapter}`}>{info.data.title}</Link>
      </nav>
      <h1>
        <HistoryIcon size={22} aria-hidden /> History
      </h1>
      <VerifyPanel chapter={chapter} />
      <div className="history-grid">
        <Timeline
          chapter={chapter}
          book={info.data.book}
          head={head}
          selected={selected}
          select={setSelected}
          refresh={() => void info.refetch()}
        />
        {selected === null ? (
          <p className="muted history-hint">
            Pick a revision in the timeline to see the chapter as it was then, and what changed.
          </p>
        ) : (
          <Revision chapter={chapter} rev={selected} head={head} />
        )}
      </div>
    </section>
  );
}

function VerifyPanel({ chapter }: { chapter: string }) {
  const verify = useMutation({ mutationFn: () => verifyChapter(chapter) });
  const result = verify.data ? verdict(verify.data) : null;
  return (
    <section className="verify" aria-labelledby="verify-title">
      <div className="panel-head">
        <h2 id="verify-title">Integrity</h2>
        <Button onClick={() => verify.mutate()} busy={verify.isPending}>
          <ShieldCheck size={16} aria-hidden /> Verify
        </Button>
      </div>
      {verify.isError && <ErrorState error={verify.error} retry={() => verify.mutate()} />}
      {!result && !verify.isError && (
        <p className="muted">
          Recomputes the hash chain from the stored bytes and checks each signed head (its chain
          hash, its Merkle root and its signature by the book's key).
        </p>
      )}
      {result && (
        <div className={`verdict ${result.ok ? "verdict-ok" : "verdict-bad"}`} role="status">
          <span className={`badge ${result.ok ? "status-extracted" : "status-rejected"}`}>
            {result.ok ? <ShieldCheck size={14} aria-hidden /> : <ShieldAlert size={14} aria-hidden />}{" "}
            {result.title}
          </span>
          <ul>
            {result.lines.map((line) => (
              <li key={line}>{line}</li>
            ))}
          </ul>
        </div>
      )}
    </section>
  );
}

function Timeline({
  chapter,
  book,
  head,
  selected,
  select,
  refresh,
}: {
  chapter: string;
  book: string;
  head: number;
  selected: number | null;
  select: (rev: number) => void;
  refresh: () => void;
}) {
  const me = useQuery({ queryKey: keys.me, queryFn: currentUser, staleTime: 60_000 });
  const members = useQuery({
    queryKey: sharingKeys.members(book),
    queryFn: () => listMembers(book),
    retry: false, // names are a nicety: without them actors show as ids
  });
  const guests = useQuery({
    queryKey: sharingKeys.shares(chapter),
    queryFn: () => listShares(chapter),
    retry: false, // as for members: without them a guest shows as its share's id
  });
  const history = useInfiniteQuery({
    queryKey: [...sharingKeys.history(chapter), head],
    queryFn: ({ pageParam }) => readHistory(chapter, pageParam.after, pageParam.limit),
    initialPageParam: newestPage(head, HISTORY_PAGE) as PageParam,
    getNextPageParam: (_last, _all, param) => olderPage(param, HISTORY_PAGE),
  });
  const entries = newestFirst(history.data?.pages);
  const who = (actor: string) => actorLabel(actor, members.data, me.data?.id, guests.data);

  return (
    <section className="panel timeline" aria-labelledby="timeline-title">
      <div className="panel-head">
        <h2 id="timeline-title">Timeline</h2>
        <span className="muted small">{head} revisions</span>
        <Button variant="ghost" onClick={refresh}>
          <RotateCw size={14} aria-hidden /> Refresh
        </Button>
      </div>
      {head > 0 && <GoToRev head={head} select={select} />}
      {head === 0 ? (
        <p className="muted">This chapter has no events yet.</p>
      ) : (
        <QueryView query={history} loading="Loading history…">
          {() => (
            <>
              <VirtualList
                items={entries}
                label="Events, newest first"
                getKey={(e) => e.rev}
                estimateSize={64}
                className="timeline-list"
                onEndReached={
                  history.hasNextPage && !history.isFetchingNextPage
                    ? () => void history.fetchNextPage()
                    : undefined
                }
              >
                {(entry) => (
                  <TimelineRow
                    entry={entry}
                    who={who(entry.actor)}
                    selected={entry.rev === selected}
                    select={() => select(entry.rev)}
                  />
                )}
              </VirtualList>
              {history.isFetchingNextPage && <Loading label="Loading older events…" />}
              {history.isFetchNextPageError && (
                <ErrorState error={history.error} retry={() => void history.fetchNextPage()} />
              )}
            </>
          )}
        </QueryView>
      )}
    </section>
  );
}

/** A revision by number, for a history too long to scroll back through. */
function GoToRev({ head, select }: { head: number; select: (rev: number) => void }) {
  const [text, setText] = useState("");
  const [invalid, setInvalid] = useState<string | null>(null);
  function onSubmit(event: FormEvent) {
    event.preventDefault();
    const why = revError(text, head);
    setInvalid(why);
    if (!why) select(Number(text.trim()));
  }
  return (
    <form className="inline-form" onSubmit={onSubmit}>
      <Field
        label="Go to rev"
        inputMode="numeric"
        placeholder={`1 to ${head}`}
        value={text}
        onChange={(e) => setText(e.target.value)}
      />
      <Button type="submit">Show</Button>
      {invalid && (
        <p className="error-text" role="alert">
          {invalid}
        </p>
      )}
    </form>
  );
}

function TimelineRow({
  entry,
  who,
  selected,
  select,
}: {
  entry: HistoryEntry;
  who: string;
  selected: boolean;
  select: () => void;
}) {
  return (
    <div className={`event event-${actorKind(entry.actor)} ${selected ? "event-selected" : ""}`}>
      <button
        type="button"
        className="event-rev"
        aria-pressed={selected}
        aria-label={`See the chapter at rev ${entry.rev}`}
        onClick={select}
      >
        {entry.rev}
      </button>
      <div className="event-main">
        <div className="event-summary">{entry.summary}</div>
        <div className="muted small">
          <time dateTime={entry.at ?? undefined}>{formatWhen(entry.at_ms)}</time> · {who} ·{" "}
          <code>{entry.type}</code>
        </div>
      </div>
    </div>
  );
}

function Revision({ chapter, rev, head }: { chapter: string; rev: number; head: number }) {
  const panel = useRef<HTMLElement>(null);
  // On a phone the revision sits below the timeline: bring it into view (a no-op side by side).
  // (A block body: newer browsers' scrollIntoView returns a promise, which must not become the
  // effect's cleanup.)
  useEffect(() => {
    panel.current?.scrollIntoView?.({ block: "nearest", behavior: "smooth" });
  }, [rev]);
  const state = useQuery({
    queryKey: sharingKeys.state(chapter, rev),
    queryFn: () => readState(chapter, rev),
    staleTime: Infinity, // a past revision never changes
  });
  return (
    <section ref={panel} className="panel revision" aria-labelledby="revision-title">
      <div className="panel-head">
        <h2 id="revision-title">At rev {rev}</h2>
        {rev === head && <span className="badge">latest</span>}
      </div>
      <QueryView query={state} loading={`Folding the log to rev ${rev}…`}>
        {(snapshot) => <StateView state={snapshot} />}
      </QueryView>
      <DiffForm key={rev} chapter={chapter} to={rev} head={head} />
    </section>
  );
}

function StateView({ state }: { state: ChapterState }) {
  const live = state.sources.filter((s) => s.status !== "removed");
  const removed = state.sources.length - live.length;
  return (
    <div className="state-view">
      <p>
        <strong>{state.title}</strong>
        {state.at != null && <span className="muted"> · {formatWhen(state.at)}</span>}
      </p>
      <p className="muted small">
        Chain hash <code title={state.hash}>{short(state.hash)}</code> pins exactly{" "}
        {state.rev === 1 ? "this first event" : `these ${state.rev} events`}. {state.threads.length} thread{state.threads.length === 1 ? "" : "s"} ·{" "}
        {state.shares.length} share{state.shares.length === 1 ? "" : "s"} in force
        {removed > 0 ? ` · ${removed} source${removed === 1 ? "" : "s"} removed by then` : ""}
      </p>
      <h3>Sources then ({live.length})</h3>
      {live.length === 0 ? (
        <p className="muted">No sources at this revision.</p>
      ) : (
        <VirtualList
          items={live}
          label={`Sources at rev ${state.rev}`}
          getKey={(s) => s.id}
          estimateSize={44}
          className="state-sources"
        >
          {(source) => <StateSourceRow source={source} />}
        </VirtualList>
      )}
      {state.shares.length > 0 && (
        <>
          <h3>Shared with then</h3>
          <ul className="plain">
            {state.shares.map((s) => (
              <li key={s.id}>
                {s.grantee} <span className="badge">{s.mode}</span>{" "}
                <span className="muted small">since rev {s.rev}</span>
              </li>
            ))}
          </ul>
        </>
      )}
    </div>
  );
}

function StateSourceRow({ source }: { source: StateSource }) {
  return (
    <div className="state-source">
      <span className="row-title">{source.name}</span>{" "}
      <span className={`badge status-${source.status}`}>{source.status}</span>{" "}
      <span className="muted small">
        {formatBytes(source.size)}
        {source.chunks ? ` · ${source.chunks} chunks` : ""}
        {source.tags.length ? ` · ${source.tags.join(", ")}` : ""}
      </span>
      {source.status === "rejected" && source.reason && <p className="reason">{source.reason}</p>}
    </div>
  );
}

function DiffForm({ chapter, to, head }: { chapter: string; to: number; head: number }) {
  const [from, setFrom] = useState(String(Math.max(0, to - 1)));
  const [asked, setAsked] = useState<number | null>(null);
  const [invalid, setInvalid] = useState<string | null>(null);
  const diff = useQuery({
    queryKey: sharingKeys.diff(chapter, asked ?? 0, to),
    queryFn: () => readDiff(chapter, asked ?? 0, to),
    enabled: asked !== null,
    staleTime: Infinity,
  });
  function onSubmit(event: FormEvent) {
    event.preventDefault();
    const value = Number(from);
    const why = from.trim() === "" ? "Give a revision to compare with." : diffRangeError(value, to, head);
    setInvalid(why);
    if (!why) setAsked(value);
  }
  return (
    <div className="diff">
      <h3>What changed up to rev {to}</h3>
      <form className="inline-form" onSubmit={onSubmit}>
        <Field
          label="Since rev"
          type="number"
          inputMode="numeric"
          min={0}
          max={to}
          value={from}
          onChange={(e) => setFrom(e.target.value)}
        />
        <Button type="submit">Compare</Button>
      </form>
      {invalid && (
        <p className="error-text" role="alert">
          {invalid}
        </p>
      )}
      {asked !== null && (
        <QueryView query={diff} loading="Comparing…">
          {(d) => <DiffView diff={d} />}
        </QueryView>
      )}
    </div>
  );
}

function DiffView({ diff }: { diff: Diff }) {
  const nothing =
    !diff.renamed &&
    diff.sources_added.length + diff.sources_removed.length + diff.sources_retagged.length +
      diff.sources_edited.length + diff.messages_added.length === 0;
  const titleId = useId();
  return (
    <div className="diff-view" aria-labelledby={titleId}>
      <p id={titleId} className="muted small">
        Rev {diff.from_rev} (<code>{short(diff.from_hash)}</code>) → rev {diff.to_rev} (
        <code>{short(diff.to_hash)}</code>)
      </p>
      {nothing && <p className="muted">No change to the title, sources or messages.</p>}
      {diff.renamed && (
        <p>
          Renamed “{diff.renamed.old}” → “{diff.renamed.new}”
        </p>
      )}
      <DiffList title="Sources added" items={diff.sources_added.map((s) => `+ ${s.name}`)} />
      <DiffList title="Sources removed" items={diff.sources_removed.map((s) => `− ${s.name}`)} />
      <DiffList
        title="Sources retagged"
        items={diff.sources_retagged.map((s) => `${s.name}: ${s.old.join(", ") || "no tags"} → ${s.new.join(", ") || "no tags"}`)}
      />
      {diff.sources_edited.map((s) => (
        <details key={s.id}>
          <summary>
            Text of {s.name} edited (+{s.diff.added_lines} −{s.diff.removed_lines})
          </summary>
          <pre className="unified">{s.diff.unified}</pre>
          {s.diff.truncated && <p className="muted small">{s.diff.note ?? "Lines left out."}</p>}
        </details>
      ))}
      <DiffList
        title="Messages posted"
        items={diff.messages_added.map((m) => `${m.role}: ${m.snippet}`)}
        more={diff.messages_more}
      />
    </div>
  );
}

function DiffList({ title, items, more = 0 }: { title: string; items: string[]; more?: number }) {
  if (items.length === 0) return null;
  return (
    <>
      <h4>{title}</h4>
      <ul className="plain">
        {items.map((item, i) => (
          <li key={i}>{item}</li>
        ))}
        {more > 0 && <li className="muted">and {more} more</li>}
      </ul>
    </>
  );
}
