import { describe, expect, it } from "vitest";
import type { Citation } from "../api/types";
import { answerParts, citationNumbers, highlight, utf16Index } from "./spans";

function cite(source: string): Citation {
  return { source, source_name: source, chunk: "c", span: { start: 0, end: 1 }, text: source };
}

describe("span offsets", () => {
  it("are code points, converted to UTF-16 indices", () => {
    expect(utf16Index("abc", 2)).toBe(2);
    // "🐢" is one code point and two UTF-16 units
    expect(utf16Index("🐢abc", 1)).toBe(2);
    expect(utf16Index("a🐢b🐢c", 4)).toBe(6);
    expect(utf16Index("abc", 99)).toBe(3);
    expect(utf16Index("abc", -1)).toBe(0);
  });

  it("highlight the cited span", () => {
    expect(highlight("The cat sat.", 4, 7)).toEqual([
      { text: "The ", marked: false },
      { text: "cat", marked: true },
      { text: " sat.", marked: false },
    ]);
  });

  it("highlight the right characters after astral ones", () => {
    const parts = highlight("🐢🐢 slow turtles", 3, 7);
    expect(parts.find((p) => p.marked)?.text).toBe("slow");
  });

  it("highlight spans at the edges and clamp spans past the end", () => {
    expect(highlight("abc", 0, 3)).toEqual([{ text: "abc", marked: true }]);
    expect(highlight("abc", 2, 10)).toEqual([
      { text: "ab", marked: false },
      { text: "c", marked: true },
    ]);
    expect(highlight("abc", 2, 1)).toEqual([
      { text: "ab", marked: false },
      { text: "c", marked: false },
    ]);
  });
});

describe("citation marks", () => {
  it("pair numbers with citations in order of first mention", () => {
    const [a, b] = [cite("a"), cite("b")];
    const map = citationNumbers("Cats sleep [3]. Dogs too [1], really [3].", [a, b]);
    expect(map.get(3)).toBe(a);
    expect(map.get(1)).toBe(b);
  });

  it("skip numbers past the retrieved passages, as the server does", () => {
    const [a, b] = [cite("a"), cite("b")];
    // the server retrieved 4 passages: [9] cites nothing, so the citations are [2] and [4]
    const map = citationNumbers("See [9] and [2], also [4].", [a, b]);
    expect(map.get(2)).toBe(a);
    expect(map.get(4)).toBe(b);
    expect(map.has(9)).toBe(false);
  });

  it("cut an answer into text and marks", () => {
    const a = cite("a");
    expect(answerParts("Yes [1]. No [5].", [a])).toEqual([
      { kind: "text", text: "Yes " },
      { kind: "cite", n: 1, citation: a },
      { kind: "text", text: ". No " },
      { kind: "cite", n: 5, citation: null },
      { kind: "text", text: "." },
    ]);
    expect(answerParts("plain", [])).toEqual([{ kind: "text", text: "plain" }]);
  });
});
