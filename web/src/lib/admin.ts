// The rules the administration screens follow, without React: when a time is shown how, which
// roles a caller may give whom (mirroring engine/rules.py, so the screen never offers what the
// server would refuse), and what an LLM settings form sends (the key is write-only).
import type { LlmKind, LlmSettings, LlmUpdate, Member, Role } from "../api/admin";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** "just now", "5 min ago", "3 h ago", "2 days ago", or the date for older times. */
export function ago(ms: number, now: number): string {
  const d = now - ms;
  if (d < MINUTE) return "just now";
  if (d < HOUR) return `${Math.floor(d / MINUTE)} min ago`;
  if (d < DAY) return `${Math.floor(d / HOUR)} h ago`;
  if (d < 30 * DAY) {
    const days = Math.floor(d / DAY);
    return `${days} day${days === 1 ? "" : "s"} ago`;
  }
  return new Date(ms).toISOString().slice(0, 10);
}

/** When a token stops working, as a person reads it. */
export function expiry(expiresAt: number | null, now: number): { text: string; expired: boolean } {
  if (expiresAt === null) return { text: "never expires", expired: false };
  const left = expiresAt - now;
  if (left <= 0) return { text: "expired", expired: true };
  if (left < HOUR) return { text: `expires in ${Math.max(1, Math.floor(left / MINUTE))} min`, expired: false };
  // Rounded: a 30-day token made a second ago still "expires in 30 days".
  if (left < DAY) return { text: `expires in ${Math.max(1, Math.round(left / HOUR))} h`, expired: false };
  const days = Math.round(left / DAY);
  return { text: `expires in ${days} day${days === 1 ? "" : "s"}`, expired: false };
}

/** Lifetimes offered for a new token, in seconds (null: never expires). */
export const TOKEN_LIFETIMES: { label: string; seconds: number | null }[] = [
  { label: "30 days", seconds: 30 * 86_400 },
  { label: "90 days", seconds: 90 * 86_400 },
  { label: "1 year", seconds: 365 * 86_400 },
  { label: "Never", seconds: null },
];

export const manages = (role: string | undefined): boolean => role === "owner" || role === "admin";

/** The roles `me` (whose role is `myRole`) may give `member`; empty when none can change. */
export function roleChoices(myRole: string, me: string, member: Member): Role[] {
  if (!manages(myRole) || member.role === "owner") return [];
  const choices: Role[] = ["admin", "member"];
  // Only the owner hands over ownership, and only to someone who has an account.
  if (myRole === "owner" && !member.pending && member.user !== me) choices.unshift("owner");
  return choices;
}

/** Whether `me` may take `member` out of the book (anyone may leave; the owner never goes). */
export function mayRemove(myRole: string, me: string, member: Member): boolean {
  if (member.role === "owner") return false;
  return member.user === me || manages(myRole);
}

/** What removing `member` is called: leaving, withdrawing an invitation, or removing. */
export function removeLabel(me: string, member: Member): string {
  if (member.user === me) return "Leave the book";
  return member.pending ? `Withdraw the invitation to ${member.email}` : `Remove ${member.email}`;
}

export const LLM_KINDS: { kind: LlmKind; label: string }[] = [
  { kind: "extractive", label: "Extractive (no LLM: the best passages, cited)" },
  { kind: "openai", label: "OpenAI or an OpenAI-compatible server" },
  { kind: "anthropic", label: "Anthropic" },
  { kind: "gemini", label: "Google Gemini" },
  { kind: "ollama", label: "Ollama" },
];

export interface LlmForm {
  kind: LlmKind;
  model: string;
  baseUrl: string;
  /** A new key typed in; empty keeps the stored one (if it still applies). */
  key: string;
  /** Forget the stored key rather than keep it. */
  clearKey: boolean;
}

/** The form as the current settings fill it (the server's default too, as a starting point),
 *  never with the key, which is never sent back. */
export function llmForm(current: LlmSettings | undefined): LlmForm {
  const kinds = LLM_KINDS.map((k) => k.kind as string);
  const kind = current && kinds.includes(current.kind) ? (current.kind as LlmKind) : "extractive";
  return {
    kind,
    model: kind === "extractive" ? "" : (current?.model ?? ""),
    baseUrl: current?.source === "book" ? (current.base_url ?? "") : "",
    key: "",
    clearKey: false,
  };
}

/** Whether a stored key survives this form (the server keeps it only for the same kind and URL). */
export function keepsKey(current: LlmSettings | undefined, form: LlmForm): boolean {
  return (
    current?.source === "book" &&
    current.has_api_key === true &&
    !form.clearKey &&
    current.kind === form.kind &&
    (current.base_url ?? "") === form.baseUrl.trim()
  );
}

/** Whether the provider needs a key at this URL (openai and anthropic at their public endpoint,
 *  gemini anywhere): the same rule as LLMSettingsUpdate's schema. */
export function needsKey(kind: LlmKind, baseUrl: string): boolean {
  if (kind === "gemini") return true;
  return (kind === "openai" || kind === "anthropic") && baseUrl.trim() === "";
}

/** The body of `PUT /v1/books/{book}/llm`, or the reason the form cannot be sent. */
export function llmUpdate(
  current: LlmSettings | undefined,
  form: LlmForm,
): { ok: true; body: LlmUpdate } | { ok: false; error: string } {
  const key = form.key.trim();
  const baseUrl = form.baseUrl.trim();
  if (form.kind === "extractive") return { ok: true, body: { kind: "extractive", model: "" } };
  if (baseUrl && !/^https?:\/\/[^\s/?#]+(\/[^\s?#]*)?$/.test(baseUrl)) {
    return { ok: false, error: "The API URL must start with http:// or https:// and have no query." };
  }
  if (/[^!-~]/.test(key)) return { ok: false, error: "The key has spaces or characters it cannot hold." };
  const body: LlmUpdate = { kind: form.kind, model: form.model.trim(), base_url: baseUrl || null };
  if (key) body.api_key = key;
  else if (!keepsKey(current, form)) {
    if (needsKey(form.kind, baseUrl)) {
      const name = LLM_KINDS.find((k) => k.kind === form.kind)?.label ?? form.kind;
      return { ok: false, error: `${name} needs an API key here.` };
    }
    body.api_key = null;
  }
  // Leaving api_key out keeps the stored key: the one case the key is not sent at all.
  return { ok: true, body };
}

/** The chapters an admin view shows: those whose title holds `query` (any case) and, unless
 *  `assignee` is empty, assigned to that member; sorted by assignee's e-mail, then title. */
export function filterChapters<C extends { title: string; assignee: string }>(
  chapters: readonly C[],
  emails: ReadonlyMap<string, string>,
  query: string,
  assignee: string,
): C[] {
  const q = query.trim().toLowerCase();
  const who = (c: C) => emails.get(c.assignee) ?? c.assignee;
  return chapters
    .filter((c) => (!q || c.title.toLowerCase().includes(q)) && (!assignee || c.assignee === assignee))
    .sort((a, b) => who(a).localeCompare(who(b)) || a.title.localeCompare(b.title));
}
