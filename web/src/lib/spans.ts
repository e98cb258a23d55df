// Citations and passages point into a source's extracted text by code-point offsets (Python's
// string indices); JavaScript strings index UTF-16 code units, which differ as soon as the text
// holds a character outside the Basic Multilingual Plane (an emoji, a CJK extension ideograph,
// a mathematical letter). These helpers convert, and cut a text into plain and highlighted parts.

import type { Citation } from "../api/types";

/** The UTF-16 index of code point `offset` in `text` (clamped to the text). */
export function utf16Index(text: string, offset: number): number {
  if (offset <= 0) return 0;
  let points = 0;
  for (let i = 0; i < text.length; i++) {
    if (points === offset) return i;
    const code = text.charCodeAt(i);
    if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++;
    }
    points++;
  }
  return text.length;
}

export interface Segment {
  text: string;
  marked: boolean;
}

/** `text` cut into the part before the span, the span (marked) and the part after it. */
export function highlight(text: string, start: number, end: number): Segment[] {
  const from = utf16Index(text, start);
  const to = Math.max(from, utf16Index(text, end));
  const parts: Segment[] = [
    { text: text.slice(0, from), marked: false },
    { text: text.slice(from, to), marked: true },
    { text: text.slice(to), marked: false },
  ];
  return parts.filter((p) => p.text !== "");
}

/** A piece of an answer: plain text, or a citation mark `[n]` with the passage it cites. */
export type AnswerPart =
  | { kind: "text"; text: string }
  | { kind: "cite"; n: number; citation: Citation | null };

const MARK = /\[(\d{1,3})\]/g;

/**
 * The passage each `[n]` of `text` cites. The server numbers passages by retrieval order in the
 * prompt and lists the citations in order of first mention, each once, leaving out numbers past
 * the passages it retrieved (app/answers.py `cited`). The valid numbers are therefore the
 * smallest `citations.length` distinct ones; matched in order of first mention, they pair with
 * the citations one to one.
 */
export function citationNumbers(text: string, citations: Citation[]): Map<number, Citation> {
  const mentioned: number[] = [];
  for (const match of text.matchAll(MARK)) {
    const n = Number(match[1]);
    if (n >= 1 && !mentioned.includes(n)) mentioned.push(n);
  }
  const valid = new Set([...mentioned].sort((a, b) => a - b).slice(0, citations.length));
  const map = new Map<number, Citation>();
  let next = 0;
  for (const n of mentioned) {
    if (!valid.has(n)) continue;
    const citation = citations[next++];
    if (citation) map.set(n, citation);
  }
  return map;
}

/** `text` split into plain runs and citation marks. */
export function answerParts(text: string, citations: Citation[]): AnswerPart[] {
  const numbers = citationNumbers(text, citations);
  const parts: AnswerPart[] = [];
  let last = 0;
  for (const match of text.matchAll(MARK)) {
    const at = match.index ?? 0;
    if (at > last) parts.push({ kind: "text", text: text.slice(last, at) });
    const n = Number(match[1]);
    parts.push({ kind: "cite", n, citation: numbers.get(n) ?? null });
    last = at + match[0].length;
  }
  if (last < text.length) parts.push({ kind: "text", text: text.slice(last) });
  return parts;
}
