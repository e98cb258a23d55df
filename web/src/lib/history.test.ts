import { describe, expect, it } from "vitest";
import type { HistoryPage, Verification } from "../api/sharing";
import {
  actorKind,
  actorLabel,
  diffRangeError,
  historyEntries,
  newestFirst,
  newestPage,
  olderPage,
  revError,
  verdict,
  type PageParam,
} from "./history";

const HASH = "ab".repeat(32);
const members = [
  { user: "u-owner", email: "owner@example.org" },
  { user: "u-ann", email: "ann@example.org" },
];

function page(revs: number[], head: number): HistoryPage {
  return {
    history: revs.map((rev) => ({
      rev,
      id: `e${rev}`,
      at: null,
      at_ms: rev * 1000,
      actor: "u-ann",
      type: "SourceAdded",
      summary: `added s${rev}`,
    })),
    head: { rev: head, hash: HASH },
    next_after: null,
  };
}

function report(change: Partial<Verification>): Verification {
  return { ok: true, events: 42, head: { rev: 42, hash: HASH }, signed: 0, ...change };
}

describe("actors", () => {
  it("are named for people: you, a member's address, a guest's share, a process", () => {
    expect(actorLabel("u-owner", members, "u-owner")).toBe("you");
    expect(actorLabel("u-ann", members, "u-owner")).toBe("ann@example.org");
    expect(actorLabel("share:01JABCDEFGHJKMNP", members, "u-owner")).toBe("a guest (share 01JABCDE)");
    expect(actorLabel("proc:answers", members, undefined)).toBe("the assistant");
    expect(actorLabel("proc:ingest", members, undefined)).toBe("extraction");
    expect(actorLabel("proc:somethingnew", members, undefined)).toBe("process somethingnew");
  });

  it("a guest acting through a share in force is named by its grantee", () => {
    const guests = [{ id: "01JSHARE", grantee: "guest@example.net" }];
    expect(actorLabel("share:01JSHARE", members, "u-owner", guests)).toBe("guest@example.net (guest)");
    expect(actorLabel("share:01JENDEDSHARE", members, "u-owner", guests)).toBe("a guest (share 01JENDED)");
  });

  it("someone outside the book (an owner's actor in a mirror) shows as a short id", () => {
    expect(actorLabel("01JOWNERIDLONGERTHAN", undefined, undefined)).toBe("user 01JOWNERID…");
    expect(actorLabel("u1", [], undefined)).toBe("user u1");
  });

  it("are people, guests or processes", () => {
    expect(actorKind("u-ann")).toBe("person");
    expect(actorKind("share:x")).toBe("guest");
    expect(actorKind("proc:mirror")).toBe("process");
  });
});

describe("history pages", () => {
  it("start at the newest events and walk back to rev 1 without overlap or gaps", () => {
    const size = 200;
    let param: PageParam | undefined = newestPage(450, size);
    const covered: number[] = [];
    while (param) {
      for (let rev = param.after + 1; rev <= param.after + param.limit; rev++) covered.push(rev);
      param = olderPage(param, size);
    }
    expect(covered.sort((a, b) => a - b)).toEqual(Array.from({ length: 450 }, (_, i) => i + 1));
    expect(newestPage(450, size)).toEqual({ after: 250, limit: 200 });
    expect(newestPage(30, size)).toEqual({ after: 0, limit: 30 });
    expect(olderPage({ after: 0, limit: 30 }, size)).toBeUndefined();
  });

  it("join into one list, newest first, each event once", () => {
    const pages = [page([3, 4, 5], 5), page([1, 2, 3], 5)];
    expect(historyEntries(pages).map((e) => e.rev)).toEqual([3, 4, 5, 1, 2]);
    expect(newestFirst(pages).map((e) => e.rev)).toEqual([5, 4, 3, 2, 1]);
    expect(newestFirst(undefined)).toEqual([]);
  });
});

describe("the verification badge", () => {
  it("a good chain without signatures says only the chain vouches for it", () => {
    const v = verdict(report({}));
    expect(v.ok).toBe(true);
    expect(v.title).toBe("Verified");
    expect(v.lines.join(" ")).toContain("42 events recomputed");
    expect(v.lines.join(" ")).toContain("none yet");
  });

  it("signed heads name their Merkle roots and how far they cover", () => {
    const v = verdict(report({ signed: 3, signed_rev: 40 }));
    expect(v.title).toBe("Verified and signed");
    const text = v.lines.join(" ");
    expect(text).toContain("3 signatures");
    expect(text).toContain("Merkle root");
    expect(text).toContain("latest covers rev 40");
    expect(text).toContain("after 40 are chained but not signed");
  });

  it("a failure names the rev, the reason and how far the log can be trusted", () => {
    const v = verdict(
      report({
        ok: false,
        events: 6,
        head: { rev: 6, hash: HASH },
        first_bad_rev: 7,
        reason: "the stored hash does not match the payload",
        signed: 1,
      }),
    );
    expect(v.ok).toBe(false);
    expect(v.title).toBe("Verification failed");
    expect(v.lines[0]).toBe("Fails at rev 7: the stored hash does not match the payload.");
    expect(v.lines.join(" ")).toContain("Revs 1 to 6 verified");
    expect(v.lines.join(" ")).toContain("1 signed head verified before the fault");
  });

  it("a broken key history is reported even when every event chains", () => {
    const v = verdict(
      report({ ok: false, reason: "the book's key history is broken at rev 3: not signed", bad_book_rev: 3 }),
    );
    expect(v.ok).toBe(false);
    expect(v.lines.join(" ")).toContain("book rev 3");
    expect(v.lines[0]).toContain("key history is broken");
  });
});

describe("comparing two revisions", () => {
  it("needs the earlier first, within the chapter", () => {
    expect(diffRangeError(0, 5, 10)).toBeNull();
    expect(diffRangeError(5, 5, 10)).toBeNull();
    expect(diffRangeError(6, 5, 10)).toContain("earlier one first");
    expect(diffRangeError(1, 11, 10)).toContain("no rev 11");
    expect(diffRangeError(-1, 3, 10)).toContain("start at 0");
    expect(diffRangeError(1.5, 3, 10)).toContain("whole numbers");
  });
});

describe("going to a revision by number", () => {
  it("takes a rev of the chapter, and says why not otherwise", () => {
    expect(revError(" 7 ", 10)).toBeNull();
    expect(revError("10", 10)).toBeNull();
    expect(revError("11", 10)).toContain("no rev 11");
    expect(revError("0", 10)).toContain("start at 1");
    expect(revError("2.5", 10)).toContain("whole number");
    expect(revError("", 10)).toContain("whole number");
  });
});
