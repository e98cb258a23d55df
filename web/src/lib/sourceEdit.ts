// A source's detail without React: tags cleaned as the server cleans them (engine/sources.py's
// clean_tags), and the errors an edit can meet, said so a person knows what to do next.
import { ApiError, describe } from "../api/http";

export const MAX_TAGS = 32;
export const MAX_TAG_CHARS = 64;

/** The tag set after adding `typed` (comma-separated), or why it cannot be added. */
export function addTags(
  tags: readonly string[],
  typed: string,
): { ok: true; tags: string[] } | { ok: false; error: string } {
  const added = typed.split(",").map((t) => t.trim()).filter(Boolean);
  if (added.length === 0) return { ok: false, error: "Type a tag first." };
  const long = added.find((t) => [...t].length > MAX_TAG_CHARS);
  if (long) return { ok: false, error: `A tag can be at most ${MAX_TAG_CHARS} characters.` };
  const next = [...new Set([...tags, ...added])].sort();
  if (next.length > MAX_TAGS) return { ok: false, error: `A source can have at most ${MAX_TAGS} tags.` };
  return { ok: true, tags: next };
}

export const removeTag = (tags: readonly string[], tag: string): string[] =>
  tags.filter((t) => t !== tag);

export const sameTags = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && [...a].sort().every((t, i) => t === [...b].sort()[i]);

/** True when the server refused an edit because the source changed since it was read. */
export const isStale = (error: unknown): boolean =>
  error instanceof ApiError && error.status === 409 && error.code === "source_changed";

/** What a failed save says: a stale revision gets its own, actionable, message. */
export function saveError(error: unknown): string {
  if (isStale(error)) {
    return (
      "Someone changed this source after you opened it (another edit, a retag or a new " +
      "extraction). Your change was not saved. Reload to see the current version, then make " +
      "your change again."
    );
  }
  if (error instanceof ApiError && error.code === "not_extracted") {
    return "This source has no extracted text to edit (yet): wait until it is extracted.";
  }
  return describe(error);
}

/** Characters, words and lines of a text, for the editor's footer. */
export function textStats(text: string): string {
  const words = text.trim() ? text.trim().split(/\s+/).length : 0;
  // A final newline ends the last line; it does not start another.
  const lines = text ? text.replace(/\n$/, "").split("\n").length : 0;
  const count = (n: number, one: string) => `${n.toLocaleString("en")} ${one}${n === 1 ? "" : "s"}`;
  return `${count(words, "word")} · ${count(lines, "line")}`;
}
