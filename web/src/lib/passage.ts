// Where a cited passage is in its source's text today. A citation's span points into the text as
// it was when the answer was made; an edit of the source since moves or changes it. The passage's
// own words (the citation's `text`) tell: if the span still holds them it is used; else they are
// looked for in the text (their first occurrence); else the passage is gone from the source.
import { utf16Index } from "./spans";

export type Located =
  | { where: "span"; from: number; to: number }
  | { where: "moved"; from: number; to: number }
  | { where: "gone" };

const squash = (s: string) => s.replace(/\s+/g, " ").trim();

/** The UTF-16 range of the cited passage in `text` (see above); without `quote`, the span. */
export function locatePassage(
  text: string,
  span: { start: number; end: number },
  quote?: string | null,
): Located {
  const from = utf16Index(text, span.start);
  const to = Math.max(from, utf16Index(text, span.end));
  if (!quote || !squash(quote)) return { where: "span", from, to };
  if (squash(text.slice(from, to)) === squash(quote)) return { where: "span", from, to };
  const exact = text.indexOf(quote);
  if (exact >= 0) return { where: "moved", from: exact, to: exact + quote.length };
  // Whitespace may differ (a re-extraction, an edit that rewrapped lines): match word by word.
  const words = squash(quote).split(" ").map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  const found = new RegExp(words.join("\\s+")).exec(text);
  if (found) return { where: "moved", from: found.index, to: found.index + found[0].length };
  return { where: "gone" };
}
