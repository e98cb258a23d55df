// Chat beside the sources: answers stream in token by token (server-sent events), and each
// citation mark opens the passage it cites.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { Send, Square } from "lucide-react";
import { createContext, useContext, useMemo, useRef, useState, type FormEvent } from "react";
import { adminKeys } from "../api/admin";
import { askStream, keys, listSources } from "../api/endpoints";
import { ApiError, describe } from "../api/http";
import type { Answer, Citation } from "../api/types";
import { Button, ErrorState, Loading } from "../components/ui";
import { VirtualList } from "../components/VirtualList";
import { cite } from "../lib/connectors";
import { answerParts } from "../lib/spans";
import { readEvents } from "../lib/sse";
import { usageLine, type StoredTurn } from "../lib/threads";
import type { PassageTarget } from "./Passage";
import { ThreadPicker, useStoredTurns } from "./Threads";

interface Turn {
  id: number;
  question: string;
  text: string;
  answer?: Answer;
  error?: string;
  streaming: boolean;
}

/** One row of the messages list: a turn the thread has stored, or one asked in this tab. */
type Row = { kind: "stored"; turn: StoredTurn } | { kind: "live"; turn: Turn };

let turns = 0;

/** Source id → how answers name its work ("Smith et al. (2020)"), for the citation marks. */
const Cites = createContext<ReadonlyMap<string, string>>(new Map());

export function ChatPanel({ chapter, open }: { chapter: string; open: (t: PassageTarget) => void }) {
  const [thread, setThread] = useState<string | null>(null);
  const [log, setLog] = useState<Turn[]>([]);
  const [question, setQuestion] = useState("");
  const abort = useRef<AbortController | null>(null);
  const busy = log.some((t) => t.streaming);
  const queryClient = useQueryClient();
  const stored = useStoredTurns(chapter, thread);
  // The chapter's sources (cached: the sources panel reads them) name the works cited.
  const sources = useQuery({ queryKey: keys.sources(chapter), queryFn: () => listSources(chapter) });
  const cites = useMemo(
    () => new Map((sources.data ?? []).map((s) => [s.id, cite(s.meta)] as const).filter(([, c]) => c)),
    [sources.data],
  );
  // A live turn leaves once the stored thread holds its question (refetched after the answer).
  const storedKeys = new Set((stored.data ?? []).map((t) => t.key));
  const live = log.filter((t) => !(t.answer && storedKeys.has(t.answer.question)));
  // One virtualised list for both, so a 500-message thread renders only the rows in view.
  const rows: Row[] = [
    ...(stored.data ?? []).map((turn): Row => ({ kind: "stored", turn })),
    ...live.map((turn): Row => ({ kind: "live", turn })),
  ];

  function pick(next: string | null) {
    abort.current?.abort();
    setLog([]);
    setThread(next);
  }

  function patch(id: number, change: Partial<Turn>) {
    setLog((all) => all.map((t) => (t.id === id ? { ...t, ...change } : t)));
  }

  async function ask(text: string) {
    const id = ++turns;
    setLog((all) => [...all, { id, question: text, text: "", streaming: true }]);
    const controller = new AbortController();
    abort.current = controller;
    let sofar = "";
    try {
      const response = await askStream(chapter, text, thread, controller.signal);
      await readEvents(response, (event) => {
        const data = JSON.parse(event.data) as Record<string, unknown>;
        if (event.event === "token") {
          sofar += String(data.text ?? "");
          patch(id, { text: sofar });
        } else if (event.event === "answer") {
          const answer = data as unknown as Answer;
          patch(id, { text: answer.text, answer, streaming: false });
          // The exchange joins the thread's stored turns at once (a new thread shows without a
          // reload; the live turn then leaves, its question being stored).
          const stored: StoredTurn = {
            key: answer.question,
            question: text,
            text: answer.text,
            citations: answer.citations,
            model: answer.model,
            usage: answer.usage ?? null,
          };
          queryClient.setQueryData<StoredTurn[]>(adminKeys.messages(chapter, answer.thread), (old) => [
            ...(old ?? []).filter((t) => t.key !== stored.key), // a refetch may hold the question
            stored,
          ]);
          setThread(answer.thread);
          void queryClient.invalidateQueries({ queryKey: adminKeys.threads(chapter) });
        } else if (event.event === "error") {
          const error = data.error as { message?: string } | undefined;
          patch(id, { error: error?.message ?? "The answer failed.", streaming: false });
        }
      });
      patch(id, { streaming: false });
    } catch (error) {
      const stopped = error instanceof DOMException && error.name === "AbortError";
      patch(id, {
        streaming: false,
        error: stopped ? "Stopped." : describe(error instanceof ApiError ? error : error),
      });
    } finally {
      abort.current = null;
    }
  }

  function onSubmit(event: FormEvent) {
    event.preventDefault();
    const text = question.trim();
    if (!text || busy) return;
    setQuestion("");
    void ask(text);
  }

  return (
    <section className="panel chat" aria-labelledby="chat-title">
      <div className="panel-head">
        <h2 id="chat-title">Chat</h2>
      </div>
      <ThreadPicker chapter={chapter} current={thread} busy={busy} pick={pick} />
      {thread !== null && stored.isPending && <Loading label="Loading the thread…" />}
      {thread !== null && stored.isError && (
        <ErrorState error={stored.error} retry={() => void stored.refetch()} />
      )}
      {thread === null && log.length === 0 && (
        <p className="muted">Ask a question about this chapter’s sources; answers cite them.</p>
      )}
      <Cites.Provider value={cites}>
        <VirtualList
          items={rows}
          label="Messages"
          getKey={(row) => (row.kind === "stored" ? `s:${row.turn.key}` : `l:${row.turn.id}`)}
          estimateSize={120}
          className="messages"
          stickToEnd
        >
          {(row) =>
            row.kind === "stored" ? (
              <StoredRow turn={row.turn} open={open} />
            ) : (
              <LiveRow turn={row.turn} open={open} busy={busy} retry={(q) => void ask(q)} />
            )
          }
        </VirtualList>
      </Cites.Provider>
      <form className="ask" onSubmit={onSubmit}>
        <label htmlFor="question" className="sr-only">
          Your question
        </label>
        <textarea
          id="question"
          rows={2}
          placeholder="Ask about these sources…"
          value={question}
          maxLength={8000}
          onChange={(e) => setQuestion(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === "Enter" && !e.shiftKey) onSubmit(e);
          }}
        />
        {busy ? (
          <Button onClick={() => abort.current?.abort()}>
            <Square size={16} aria-hidden /> Stop
          </Button>
        ) : (
          <Button type="submit" variant="primary" disabled={!question.trim()}>
            <Send size={16} aria-hidden /> Ask
          </Button>
        )}
      </form>
    </section>
  );
}

function LiveRow({
  turn,
  open,
  busy,
  retry,
}: {
  turn: Turn;
  open: (t: PassageTarget) => void;
  busy: boolean;
  retry: (question: string) => void;
}) {
  return (
    <div className="turn" aria-live={turn.streaming ? "polite" : undefined}>
      <p className="bubble bubble-user">{turn.question}</p>
      <div className="bubble bubble-answer" aria-busy={turn.streaming}>
        {turn.text ? (
          <AnswerText text={turn.text} citations={turn.answer?.citations ?? []} open={open} />
        ) : turn.streaming ? (
          <span className="muted">Thinking…</span>
        ) : null}
        {turn.error && (
          <p className="error-text" role="alert">
            {turn.error}{" "}
            <Button variant="ghost" onClick={() => retry(turn.question)} disabled={busy}>
              Retry
            </Button>
          </p>
        )}
        {turn.answer && (
          <p className="muted small usage">{usageLine(turn.answer.model, turn.answer.usage)}</p>
        )}
      </div>
    </div>
  );
}

function StoredRow({ turn, open }: { turn: StoredTurn; open: (t: PassageTarget) => void }) {
  return (
    <div className="turn">
      {turn.question && <p className="bubble bubble-user">{turn.question}</p>}
      <div className="bubble bubble-answer">
        {turn.text ? (
          <AnswerText text={turn.text} citations={turn.citations} open={open} />
        ) : (
          <span className="muted">No answer was recorded.</span>
        )}
        {(turn.model || turn.usage) && (
          <p className="muted small usage">{usageLine(turn.model, turn.usage)}</p>
        )}
      </div>
    </div>
  );
}

function AnswerText({
  text,
  citations,
  open,
}: {
  text: string;
  citations: Citation[];
  open: (t: PassageTarget) => void;
}) {
  const parts = answerParts(text, citations);
  const cites = useContext(Cites);
  return (
    <p className="answer-text">
      {parts.map((part, i) => {
        if (part.kind === "text") return <span key={i}>{part.text}</span>;
        const citation = part.citation;
        if (!citation) return <span key={i}>[{part.n}]</span>;
        const work = cites.get(citation.source);
        const named = work ? `${citation.source_name}, ${work}` : citation.source_name;
        return (
          <button
            key={i}
            type="button"
            className="cite"
            aria-label={`Citation ${part.n}: ${named}`}
            title={named}
            onClick={() =>
              open({
                source: citation.source,
                name: citation.source_name,
                span: citation.span,
                quote: citation.text,
              })
            }
          >
            {part.n}
          </button>
        );
      })}
    </p>
  );
}
