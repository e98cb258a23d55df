// The share dialog's and the accept screen's logic, without React: what each mode means at the
// book's plan, the request a form makes (or why it cannot), what a refusal tells a person, and
// share links, whose token rides in the URL's fragment.
import { ApiError } from "../api/http";
import type { Permission, ScopeName, ShareCreate, ShareMode } from "../api/sharing";

export type Plan = "free" | "paid";

/** A proxied share's tick at each plan (engine/shares.py INTERVALS). */
export const TICK_S: Record<Plan, number> = { paid: 60, free: 600 };

export const PERMISSIONS: { name: Permission; label: string; hint: string }[] = [
  { name: "add", label: "Add sources", hint: "upload files or add web pages" },
  { name: "remove", label: "Remove sources", hint: "take sources out" },
  { name: "edit", label: "Edit sources", hint: "retag or correct extracted text" },
  {
    name: "prompt_passthrough",
    label: "Ask with your model",
    hint: "questions answered by this book's model, on its bill",
  },
];

export const SCOPES: { name: ScopeName; label: string }[] = [
  { name: "sources", label: "Sources" },
  { name: "notes", label: "Notes" },
  { name: "threads", label: "Chat threads" },
];

/** Sources and notes, as the server shares by default; threads only when asked for. */
export const DEFAULT_SCOPE: ScopeName[] = ["sources", "notes"];

export function minutes(seconds: number): string {
  const m = Math.round(seconds / 60);
  return m === 1 ? "1 minute" : `${m} minutes`;
}

/** What a mode gives the guest, at the book's plan (which decides a proxied share's tick). */
export function describeMode(mode: ShareMode, plan: Plan): string {
  switch (mode) {
    case "copy":
      return "A snapshot the guest keeps as a chapter of their own; later changes do not cross.";
    case "proxied":
      return (
        `A live mirror refreshed every ${minutes(TICK_S[plan])} ` +
        `(this book is on the ${plan} plan${plan === "free" ? "; paid books refresh every minute" : ""}).`
      );
    case "direct":
      return "A live mirror that follows every change within moments, over NATS.";
  }
}

export interface ShareForm {
  mode: ShareMode;
  grantee: string;
  permissions: Permission[];
  scope: ScopeName[];
  /** `yyyy-mm-dd` from a date input, or "" for "until revoked". */
  expires: string;
}

export const EMPTY_FORM: ShareForm = {
  mode: "copy",
  grantee: "",
  permissions: [],
  scope: [...DEFAULT_SCOPE],
  expires: "",
};

// The server's rule (engine/rules.py check_share) plus a dot in the domain: enough to catch a typo
// before a round trip; the server stays the judge.
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** The request `form` makes, or what is wrong with it. `now` is unix ms. */
export function shareRequest(
  form: ShareForm,
  now: number,
): { ok: true; request: ShareCreate } | { ok: false; error: string } {
  const grantee = form.grantee.trim().toLowerCase();
  if (!grantee) return { ok: false, error: "Give the e-mail address of the person to share with." };
  if (!EMAIL.test(grantee)) return { ok: false, error: `“${form.grantee.trim()}” is not an e-mail address.` };
  if (form.scope.length === 0) return { ok: false, error: "Share at least one of sources, notes or threads." };
  let expires_at: number | null = null;
  if (form.expires) {
    // The end of the chosen day, local time: "until 12 March" includes 12 March.
    const end = new Date(`${form.expires}T23:59:59.999`);
    if (Number.isNaN(end.getTime())) return { ok: false, error: "That expiry date is not a date." };
    if (end.getTime() <= now) return { ok: false, error: "The expiry date has passed." };
    expires_at = end.getTime();
  }
  const scope = sameSet(form.scope, DEFAULT_SCOPE) ? null : orderedBy(SCOPES, form.scope);
  return {
    ok: true,
    request: {
      mode: form.mode,
      grantee,
      permissions: orderedBy(PERMISSIONS, form.permissions),
      scope,
      expires_at,
    },
  };
}

function sameSet<T>(a: T[], b: T[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

function orderedBy<T extends string>(order: { name: T }[], chosen: T[]): T[] {
  return order.map((o) => o.name).filter((n) => chosen.includes(n));
}

/** What a refused share, revocation or acceptance tells a person, with what they can do. */
export function shareError(error: unknown): string {
  if (!(error instanceof ApiError)) return error instanceof Error ? error.message : "Something went wrong.";
  switch (error.code) {
    case "direct_shares_unavailable":
      return `${error.message} Choose a proxied live share instead.`;
    case "share_ended":
      return `This share has ended: ${error.message}. Ask the owner for a new link.`;
    case "invalid_share_token":
      return "This share link is not valid (mistyped, or made up). Ask the owner for a new link.";
    case "peer_unavailable":
    case "peer_refused":
      return `The owner's server could not be reached: ${error.message}`;
  }
  if (error.status === 404 && error.code !== "chapter_not_found" && error.code !== "book_not_found") {
    return `Not found: ${error.message}`;
  }
  if (error.status === 403 && /outside it/.test(error.message)) {
    return (
      "This book does not allow sharing with people outside it. Its owner or an admin can turn " +
      "on external sharing in the book's settings, or add the person to the book first."
    );
  }
  if (error.status === 403) return `Not allowed: ${error.message}`;
  return error.message;
}

/** The link a guest opens: this app's accept screen, the token in the fragment (see docs/web-sharing.md). */
export function acceptLink(origin: string, token: string): string {
  return `${origin}/accept#token=${encodeURIComponent(token)}`;
}

/** The token in a fragment like `#token=…` (or null). */
export function tokenFromHash(hash: string): string | null {
  const params = new URLSearchParams(hash.replace(/^#/, ""));
  const token = params.get("token")?.trim();
  return token ? token : null;
}

/**
 * A pasted link or bare token: the token, and the owner's server when the link is another
 * server's (`here` is this app's origin). Null when nothing token-like is there.
 */
export function parseShareInput(
  text: string,
  here: string,
): { token: string; from: string | null } | null {
  const value = text.trim();
  if (!value) return null;
  if (/^https?:\/\//i.test(value)) {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      return null;
    }
    const token = tokenFromHash(url.hash);
    if (!token) return null;
    return { token, from: url.origin === here ? null : url.origin };
  }
  if (value.startsWith("#")) {
    const token = tokenFromHash(value);
    return token ? { token, from: null } : null;
  }
  // A bare token: the server's tokens are URL-safe and at least 24 characters.
  return /^[A-Za-z0-9_\-.~]{24,512}$/.test(value) ? { token: value, from: null } : null;
}

/** Where a share link's token waits while its guest signs in (this tab only). */
export const PENDING_TOKEN_KEY = "ragstack.share-token";

type TokenStore = Pick<Storage, "getItem" | "setItem" | "removeItem">;

/**
 * The token a share link brought: from the fragment (kept in `storage` for this tab, so it
 * survives signing in, which the fragment would not) or from an earlier visit. The caller then
 * clears the fragment from the address bar.
 */
export function pendingToken(hash: string, storage: TokenStore | undefined): string | null {
  const fromHash = tokenFromHash(hash);
  try {
    if (fromHash) {
      storage?.setItem(PENDING_TOKEN_KEY, fromHash);
      return fromHash;
    }
    return storage?.getItem(PENDING_TOKEN_KEY) ?? null;
  } catch {
    return fromHash; // storage refused: the token lives for this page only
  }
}

export function forgetPendingToken(storage: TokenStore | undefined): void {
  try {
    storage?.removeItem(PENDING_TOKEN_KEY);
  } catch {
    // nothing stored
  }
}

/** How a chapter came into its book by a share: a live mirror, a copy, or not by a share. */
export function sharedKind(chapter: {
  share?: string | null;
  forked_from?: string | null;
}): "mirror" | "copy" | null {
  if (!chapter.share) return null;
  return chapter.forked_from ? "copy" : "mirror";
}
