// A chapter's chat threads: the list (newest first, with titles), switching between them, and
// starting a new one; and a thread's stored questions and answers, loaded when it is opened.
import { useQuery } from "@tanstack/react-query";
import { MessageSquarePlus, MessagesSquare } from "lucide-react";
import { adminKeys, listMessages, listThreads, type Thread } from "../api/admin";
import { Button, QueryView } from "../components/ui";
import { ago } from "../lib/admin";
import { pairMessages, questions } from "../lib/threads";

export function useThreads(chapter: string) {
  return useQuery({ queryKey: adminKeys.threads(chapter), queryFn: () => listThreads(chapter) });
}

/** The stored turns of `thread` (none for a thread not started yet). */
export function useStoredTurns(chapter: string, thread: string | null) {
  return useQuery({
    queryKey: adminKeys.messages(chapter, thread ?? ""),
    queryFn: async () => pairMessages(await listMessages(chapter, thread ?? "")),
    enabled: thread !== null,
    staleTime: 30_000,
  });
}

export function ThreadPicker({
  chapter,
  current,
  busy,
  pick,
}: {
  chapter: string;
  current: string | null;
  busy: boolean;
  pick: (thread: string | null) => void;
}) {
  const threads = useThreads(chapter);
  const now = Date.now();
  const title = current === null ? "New thread" : (threads.data?.find((t) => t.id === current)?.title ?? "Thread");
  return (
    <details className="threads">
      <summary>
        <MessagesSquare size={16} aria-hidden /> <span className="thread-current">{title}</span>
        <span className="muted small">
          {threads.data ? ` · ${threads.data.length} thread${threads.data.length === 1 ? "" : "s"}` : ""}
        </span>
      </summary>
      <div className="threads-body">
        <Button variant="ghost" onClick={() => pick(null)} disabled={busy || current === null}>
          <MessageSquarePlus size={16} aria-hidden /> New thread
        </Button>
        <QueryView
          query={threads}
          loading="Loading threads…"
          empty="No threads yet: your first question starts one."
          isEmpty={(list) => list.length === 0}
        >
          {(list) => (
            <ul className="thread-list" aria-label="Threads">
              {list.map((t: Thread) => (
                <li key={t.id}>
                  <button
                    type="button"
                    className="thread-item"
                    aria-current={t.id === current ? "true" : undefined}
                    disabled={busy}
                    onClick={() => pick(t.id)}
                  >
                    <span className="thread-title">{t.title || "Untitled"}</span>
                    <span className="muted small">{`${questions(t.message_count)} · ${ago(t.last_at, now)}`}</span>
                  </button>
                </li>
              ))}
            </ul>
          )}
        </QueryView>
      </div>
    </details>
  );
}
