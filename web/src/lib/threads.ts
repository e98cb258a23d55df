// A thread's stored messages as the chat shows them: each question paired with its answer (the
// API lists them as one sequence, oldest first), and the figures under an answer.
import type { Message, Thread } from "../api/admin";
import type { Answer, Citation, Usage } from "../api/types";

export interface StoredTurn {
  /** The question's message id (the answer's when a question is missing). */
  key: string;
  question: string;
  text: string;
  citations: Citation[];
  model: string | null;
  usage: Usage | null;
}

/** Questions and answers paired up: an answer belongs to the question before it; a question
 *  left unanswered (the answer failed) gets an empty answer; an answer with no question (the
 *  page began mid-thread) keeps an empty question. */
export function pairMessages(messages: readonly Message[]): StoredTurn[] {
  const turns: StoredTurn[] = [];
  let open: StoredTurn | null = null;
  for (const stored of messages) {
    // A stored citation carries no passage text (the span and chunk say where it is).
    const m = { ...stored, citations: stored.citations.map((c) => ({ ...c, text: "" })) };
    if (m.role === "user") {
      open = { key: m.id, question: m.text, text: "", citations: [], model: null, usage: null };
      turns.push(open);
    } else if (open && open.text === "" && open.model === null) {
      Object.assign(open, { text: m.text, citations: m.citations, model: m.model, usage: m.usage });
      open = null;
    } else {
      turns.push({
        key: m.id, question: "", text: m.text, citations: m.citations, model: m.model, usage: m.usage,
      });
    }
  }
  return turns;
}

/** The line under an answer: the model and the tokens it cost ("·"-separated, any may be absent). */
export function usageLine(model: string | null | undefined, usage: Usage | null | undefined): string {
  const parts: string[] = [];
  if (model) parts.push(model);
  if (usage) {
    const total = usage.prompt + usage.completion;
    parts.push(
      `${total.toLocaleString("en")} tokens (${usage.prompt.toLocaleString("en")} in, ` +
        `${usage.completion.toLocaleString("en")} out)`,
    );
  }
  return parts.join(" · ");
}

/** The threads list after an answer arrived in `answer.thread`: that thread moves to the top with
 *  one more exchange, or appears there titled after `question` when it is new. */
export function bumpThread(
  threads: readonly Thread[],
  answer: Pick<Answer, "thread">,
  question: string,
  now: number,
): Thread[] {
  const found = threads.find((t) => t.id === answer.thread);
  const rest = threads.filter((t) => t.id !== answer.thread);
  const bumped: Thread = found
    ? { ...found, message_count: found.message_count + 2, last_at: now }
    : {
        id: answer.thread,
        title: threadTitle(question),
        actor: "",
        created_rev: 0,
        created_at: now,
        message_count: 2,
        last_at: now,
      };
  return [bumped, ...rest];
}

/** A title for a thread named after its first question, until the server's arrives. */
export function threadTitle(question: string): string {
  const line = question.trim().split("\n")[0] ?? "";
  return line.length > 60 ? `${line.slice(0, 59).trimEnd()}…` : line || "New thread";
}

/** "1 question", "3 questions": a thread's messages are its questions and their answers (an
 *  answer that failed leaves a question alone, hence rounding up). */
export function questions(messageCount: number): string {
  const n = Math.ceil(messageCount / 2);
  return `${n} question${n === 1 ? "" : "s"}`;
}
