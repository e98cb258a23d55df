// The history screen's logic, without React: who an actor is, the pages of a chapter's history
// as one list, and a verification report told as a badge and the exact fault.
import type { HistoryPage, Member, Share, Verification } from "../api/sharing";

/** What the server's processors are called in a timeline (their actor is `proc:<name>`). */
const PROCESSES: Record<string, string> = {
  answers: "the assistant",
  mirror: "the mirror (owner's changes)",
  signer: "the signer",
  keys: "the key manager",
  ingest: "extraction",
};

/** An actor as a person reads it: a member's e-mail, "you", a guest's share, or a process. */
export function actorLabel(
  actor: string,
  members: Pick<Member, "user" | "email">[] | undefined,
  me: string | undefined,
  guests?: Pick<Share, "id" | "grantee">[],
): string {
  if (me && actor === me) return "you";
  if (actor.startsWith("share:")) {
    // A guest acting through a share in force is named by its grantee; an ended one by its id.
    const share = guests?.find((g) => g.id === actor.slice(6));
    return share ? `${share.grantee} (guest)` : `a guest (share ${actor.slice(6, 14)})`;
  }
  if (actor.startsWith("proc:")) {
    const name = actor.slice(5);
    return PROCESSES[name] ?? `process ${name}`;
  }
  const member = members?.find((m) => m.user === actor);
  if (member) return member.email;
  return actor.length > 12 ? `user ${actor.slice(0, 10)}…` : `user ${actor}`;
}

/** Whether an actor is a person (a member or a guest) rather than the server's own process. */
export function actorKind(actor: string): "person" | "guest" | "process" {
  if (actor.startsWith("proc:")) return "process";
  if (actor.startsWith("share:")) return "guest";
  return "person";
}

/** The entries of every page loaded so far, in log order, once each. */
export function historyEntries(pages: HistoryPage[] | undefined) {
  const seen = new Set<number>();
  const out: HistoryPage["history"] = [];
  for (const page of pages ?? []) {
    for (const entry of page.history) {
      if (!seen.has(entry.rev)) {
        seen.add(entry.rev);
        out.push(entry);
      }
    }
  }
  return out;
}

/** A stamp in the reader's locale and zone (the API gives unix ms and ISO 8601 UTC). */
export function formatWhen(ms: number, locale?: string): string {
  const when = new Date(ms);
  if (Number.isNaN(when.getTime())) return "unknown time";
  return when.toLocaleString(locale, { dateStyle: "medium", timeStyle: "medium" });
}

export interface VerifyVerdict {
  ok: boolean;
  /** The badge: "Verified" or "Verification failed". */
  title: string;
  /** What was checked, or what failed and where, one fact per line. */
  lines: string[];
}

/** A `GET …/verify` report as a badge and the facts behind it. */
export function verdict(report: Verification): VerifyVerdict {
  const lines: string[] = [];
  const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
  if (report.ok) {
    lines.push(
      `Hash chain: ${plural(report.events, "event")} recomputed from the stored bytes ` +
        `(head rev ${report.head.rev}, hash ${short(report.head.hash)})`,
    );
    if (report.signed > 0) {
      lines.push(
        `Signed heads: ${plural(report.signed, "signature")} by the book's keys verified, each ` +
          `naming the chain hash and the Merkle root at its rev; the latest covers rev ${report.signed_rev}.`,
      );
      if (report.signed_rev != null && report.signed_rev < report.head.rev) {
        lines.push(`Revs after ${report.signed_rev} are chained but not signed yet.`);
      }
    } else {
      lines.push("Signed heads: none yet, so only the hash chain vouches for this log.");
    }
    return { ok: true, title: report.signed > 0 ? "Verified and signed" : "Verified", lines };
  }
  if (report.first_bad_rev != null) {
    lines.push(`Fails at rev ${report.first_bad_rev}: ${report.reason ?? "no reason given"}.`);
  } else if (report.reason) {
    lines.push(`${report.reason}.`);
  }
  if (report.bad_book_rev != null) {
    lines.push(
      `The book's key history is broken at book rev ${report.bad_book_rev}: signatures are ` +
        "checked only against the keys before it.",
    );
  }
  lines.push(
    report.events > 0
      ? `Revs 1 to ${report.head.rev} verified (last good hash ${short(report.head.hash)}): ` +
          "do not trust anything after them."
      : "No event verified.",
  );
  if (report.signed > 0) lines.push(`${plural(report.signed, "signed head")} verified before the fault.`);
  return { ok: false, title: "Verification failed", lines };
}

export function short(hash: string): string {
  return hash.length > 16 ? `${hash.slice(0, 12)}…` : hash;
}

/** Why the pair of revs cannot be compared, or null when they can. */
export function diffRangeError(from: number, to: number, head: number): string | null {
  if (!Number.isInteger(from) || !Number.isInteger(to)) return "Revisions are whole numbers.";
  if (from < 0 || to < 0) return "Revisions start at 0 (the empty chapter).";
  if (to > head) return `The chapter has ${head} revisions; there is no rev ${to}.`;
  if (from > to) return `Rev ${from} comes after rev ${to}: put the earlier one first.`;
  return null;
}

/** A page of history to load: events (after, after + limit]. */
export interface PageParam {
  after: number;
  limit: number;
}

/** The newest page of a chapter whose head is `head` (the timeline shows newest first). */
export function newestPage(head: number, size: number): PageParam {
  const after = Math.max(0, head - size);
  return { after, limit: Math.max(1, head - after) };
}

/** The page before `page`, or undefined when `page` starts at the first event. */
export function olderPage(page: PageParam, size: number): PageParam | undefined {
  if (page.after <= 0) return undefined;
  const after = Math.max(0, page.after - size);
  return { after, limit: page.after - after };
}

/** Every loaded entry, newest first, once each. */
export function newestFirst(pages: HistoryPage[] | undefined): HistoryPage["history"] {
  return historyEntries(pages).sort((a, b) => b.rev - a.rev);
}

/** Why `text` names no revision of a chapter whose head is `head`, or null when it does. */
export function revError(text: string, head: number): string | null {
  const value = text.trim();
  if (!/^\d+$/.test(value)) return "A revision is a whole number.";
  const rev = Number(value);
  if (rev < 1) return "Revisions start at 1 (the chapter's creation).";
  if (rev > head) return `The chapter has ${head} revisions; there is no rev ${rev}.`;
  return null;
}
