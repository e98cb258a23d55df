// Chat beside the sources: answers stream in token by token (server-sent events), and each
// citation mark opens the passage it cites.
import { Send, Square } from "lucide-react";
import { useRef, useState, type FormEvent } from "react";
import { askStream } from "../api/endpoints";
import { ApiError, describe } from "../api/http";
import type { Answer } from "../api/types";
import { Button } from "../components/ui";
import { VirtualList } from "../components/VirtualList";
import { answerParts } from "../lib/spans";
import { readEvents } from "../lib/sse";
import type { PassageTarget } from "./Passage";

interface Turn {
  id: number;
  question: string;
  text: string;
  answer?: Answer;
  error?: string;
  streaming: boolean;
}

let turns = 0;

export function ChatPanel({ chapter, open }: { chapter: string; open: (t: PassageTarget) => void }) {
  const [thread, setThread] = useState<string | null>(null);
  const [log, setLog] = useState<Turn[]>([]);
  const [question, setQuestion] = useState("");
  const abort = useRef<AbortController | null>(null);
  const busy = log.some((t) => t.streaming);

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
          setThread(answer.thread);
          patch(id, { text: answer.text, answer, streaming: false });
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
        {thread && (
          <Button variant="ghost" onClick={() => { setThread(null); setLog([]); }} disabled={busy}>
            New thread
          </Button>
        )}
      </div>
      {log.length === 0 && (
        <p className="muted">Ask a question about this chapter’s sources; answers cite them.</p>
      )}
      <VirtualList items={log} label="Messages" getKey={(t) => t.id} estimateSize={120} className="messages" stickToEnd>
        {(turn) => (
          <div className="turn" aria-live={turn.streaming ? "polite" : undefined}>
            <p className="bubble bubble-user">{turn.question}</p>
            <div className="bubble bubble-answer" aria-busy={turn.streaming}>
              {turn.text ? (
                <AnswerText turn={turn} open={open} />
              ) : turn.streaming ? (
                <span className="muted">Thinking…</span>
              ) : null}
              {turn.error && (
                <p className="error-text" role="alert">
                  {turn.error}{" "}
                  <Button variant="ghost" onClick={() => void ask(turn.question)} disabled={busy}>
                    Retry
                  </Button>
                </p>
              )}
              {turn.answer && (
                <p className="muted small">
                  {turn.answer.model}
                  {turn.answer.usage &&
                    ` · ${turn.answer.usage.prompt} + ${turn.answer.usage.completion} tokens`}
                </p>
              )}
            </div>
          </div>
        )}
      </VirtualList>
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

function AnswerText({ turn, open }: { turn: Turn; open: (t: PassageTarget) => void }) {
  const parts = answerParts(turn.text, turn.answer?.citations ?? []);
  return (
    <p className="answer-text">
      {parts.map((part, i) => {
        if (part.kind === "text") return <span key={i}>{part.text}</span>;
        const citation = part.citation;
        if (!citation) return <span key={i}>[{part.n}]</span>;
        return (
          <button
            key={i}
            type="button"
            className="cite"
            aria-label={`Citation ${part.n}: ${citation.source_name}`}
            title={citation.source_name}
            onClick={() =>
              open({ source: citation.source, name: citation.source_name, span: citation.span })
            }
          >
            {part.n}
          </button>
        );
      })}
    </p>
  );
}
