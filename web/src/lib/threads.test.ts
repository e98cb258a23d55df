import { describe, expect, it } from "vitest";
import type { Message, Thread } from "../api/admin";
import { bumpThread, pairMessages, questions, threadTitle, usageLine } from "./threads";

let rev = 0;
function msg(role: "user" | "assistant", text: string, extra: Partial<Message> = {}): Message {
  rev += 1;
  return {
    id: `m${rev}`, thread: "t1", role, text, rev, answered_at_rev: role === "assistant" ? rev - 1 : null,
    model: role === "assistant" ? "extractive" : null, usage: null, actor: "u", at: rev,
    citations: role === "assistant"
      ? [{ source: "s1", source_name: "bees.txt", chunk: "c1", span: { start: 0, end: 4, page: 2 } }]
      : [],
    ...extra,
  };
}

describe("a stored thread", () => {
  it("pairs each question with the answer after it", () => {
    const q1 = msg("user", "Why?");
    const a1 = msg("assistant", "Because [1].", { usage: { prompt: 1200, completion: 34 } });
    const q2 = msg("user", "And then?");
    const a2 = msg("assistant", "Then this.");
    const turns = pairMessages([q1, a1, q2, a2]);
    expect(turns.map((t) => [t.key, t.question, t.text])).toEqual([
      [q1.id, "Why?", "Because [1]."],
      [q2.id, "And then?", "Then this."],
    ]);
    expect(turns[0]!.usage).toEqual({ prompt: 1200, completion: 34 });
    // Stored citations have no passage text; the span still says where it is.
    expect(turns[0]!.citations[0]).toMatchObject({ source: "s1", text: "", span: { page: 2 } });
  });

  it("keeps an unanswered question, and an answer whose question is on an earlier page", () => {
    const lone = msg("assistant", "Orphan answer");
    const q = msg("user", "Failed?");
    const q2 = msg("user", "Again");
    const a2 = msg("assistant", "Yes");
    const turns = pairMessages([lone, q, q2, a2]);
    expect(turns.map((t) => [t.question, t.text])).toEqual([
      ["", "Orphan answer"],
      ["Failed?", ""],
      ["Again", "Yes"],
    ]);
  });
});

describe("usage", () => {
  it("names the model and the tokens, in and out", () => {
    expect(usageLine("openai:gpt-4o-mini", { prompt: 1200, completion: 34 })).toBe(
      "openai:gpt-4o-mini · 1,234 tokens (1,200 in, 34 out)",
    );
    expect(usageLine("extractive", null)).toBe("extractive");
    expect(usageLine(null, undefined)).toBe("");
  });
});

describe("the threads list", () => {
  const t = (id: string, count: number): Thread => ({
    id, title: id, actor: "u", created_rev: 1, created_at: 1, message_count: count, last_at: 1,
  });

  it("moves the answered thread to the top, or adds a new one titled after the question", () => {
    const list = [t("a", 2), t("b", 4)];
    const bumped = bumpThread(list, { thread: "b" }, "q", 99);
    expect(bumped.map((x) => [x.id, x.message_count, x.last_at])).toEqual([
      ["b", 6, 99],
      ["a", 2, 1],
    ]);
    const added = bumpThread(list, { thread: "c" }, "How do bees dance?\nsecond line", 99);
    expect(added[0]).toMatchObject({ id: "c", title: "How do bees dance?", message_count: 2 });
    expect(added).toHaveLength(3);
  });

  it("counts questions, a question left unanswered too", () => {
    expect(questions(2)).toBe("1 question");
    expect(questions(3)).toBe("2 questions");
    expect(questions(0)).toBe("0 questions");
  });

  it("titles long or empty questions sensibly", () => {
    expect(threadTitle("x".repeat(100))).toHaveLength(60);
    expect(threadTitle("x".repeat(100)).endsWith("…")).toBe(true);
    expect(threadTitle("   ")).toBe("New thread");
  });
});
