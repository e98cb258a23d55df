import { describe, expect, it } from "vitest";
import { ApiError } from "../api/http";
import {
  EMPTY_FORM,
  PENDING_TOKEN_KEY,
  acceptLink,
  describeMode,
  forgetPendingToken,
  parseShareInput,
  pendingToken,
  shareError,
  shareRequest,
  sharedKind,
  tokenFromHash,
  type ShareForm,
} from "./sharing";

const NOW = Date.UTC(2026, 0, 10, 12);
const TOKEN = "rsh_Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZg";

function form(change: Partial<ShareForm>): ShareForm {
  return { ...EMPTY_FORM, grantee: "Guest@Example.org", ...change };
}

class MemoryStorage {
  items = new Map<string, string>();
  getItem(key: string) {
    return this.items.get(key) ?? null;
  }
  setItem(key: string, value: string) {
    this.items.set(key, value);
  }
  removeItem(key: string) {
    this.items.delete(key);
  }
}

describe("share modes", () => {
  it("a proxied share's tick follows the book's plan and says which", () => {
    expect(describeMode("proxied", "paid")).toContain("every 1 minute");
    expect(describeMode("proxied", "paid")).toContain("paid plan");
    const free = describeMode("proxied", "free");
    expect(free).toContain("every 10 minutes");
    expect(free).toContain("free plan");
    expect(free).toContain("paid books refresh every minute");
  });

  it("copy and direct do not depend on the plan", () => {
    expect(describeMode("copy", "free")).toBe(describeMode("copy", "paid"));
    expect(describeMode("direct", "free")).toMatch(/live/);
  });
});

describe("the share request a form makes", () => {
  it("lower-cases the grantee, orders permissions, leaves the default scope to the server", () => {
    const made = shareRequest(form({ permissions: ["prompt_passthrough", "add"] }), NOW);
    expect(made).toEqual({
      ok: true,
      request: {
        mode: "copy",
        grantee: "guest@example.org",
        permissions: ["add", "prompt_passthrough"],
        scope: null,
        expires_at: null,
      },
    });
  });

  it("sends a scope other than the default, in the API's order", () => {
    const made = shareRequest(form({ mode: "proxied", scope: ["threads", "sources"] }), NOW);
    expect(made.ok && made.request.scope).toEqual(["sources", "threads"]);
    const same = shareRequest(form({ scope: ["notes", "sources"] }), NOW);
    expect(same.ok && same.request.scope).toBeNull();
  });

  it("refuses an empty or malformed address and an empty scope", () => {
    expect(shareRequest(form({ grantee: "  " }), NOW)).toMatchObject({ ok: false });
    const bad = shareRequest(form({ grantee: "guest@localhost" }), NOW);
    expect(bad).toMatchObject({ ok: false, error: expect.stringContaining("guest@localhost") });
    expect(shareRequest(form({ grantee: "a b@c.d" }), NOW).ok).toBe(false);
    expect(shareRequest(form({ scope: [] }), NOW)).toMatchObject({
      ok: false,
      error: expect.stringContaining("at least one"),
    });
  });

  it("an expiry date ends at the end of that day, and must be in the future", () => {
    const made = shareRequest(form({ expires: "2026-02-01" }), NOW);
    expect(made.ok).toBe(true);
    const at = made.ok ? made.request.expires_at! : 0;
    const end = new Date(at);
    expect([end.getFullYear(), end.getMonth(), end.getDate()]).toEqual([2026, 1, 1]);
    expect([end.getHours(), end.getMinutes()]).toEqual([23, 59]);
    expect(shareRequest(form({ expires: "2025-12-31" }), NOW)).toMatchObject({
      ok: false,
      error: expect.stringContaining("passed"),
    });
  });
});

describe("what a refusal tells a person", () => {
  it("external sharing off names who can turn it on", () => {
    const error = new ApiError(
      403,
      "forbidden",
      "this book does not allow sharing outside it; its owner or an admin can allow it",
    );
    expect(shareError(error)).toMatch(/owner or an admin can turn on external sharing/);
  });

  it("names the way out of other refusals", () => {
    expect(shareError(new ApiError(409, "direct_shares_unavailable", "no direct shares here."))).toContain(
      "proxied",
    );
    expect(shareError(new ApiError(403, "share_ended", "this share was revoked"))).toContain("new link");
    expect(shareError(new ApiError(404, "invalid_share_token", "unknown"))).toContain("not valid");
    expect(shareError(new ApiError(403, "forbidden", "only the assignee may"))).toBe(
      "Not allowed: only the assignee may",
    );
    expect(shareError(new ApiError(0, "network", "The server could not be reached."))).toBe(
      "The server could not be reached.",
    );
  });
});

describe("share links", () => {
  it("carry the token in the fragment, never the query string", () => {
    const link = acceptLink("https://rs.example.org", TOKEN);
    const url = new URL(link);
    expect(url.pathname).toBe("/accept");
    expect(url.search).toBe("");
    expect(tokenFromHash(url.hash)).toBe(TOKEN);
  });

  it("a pasted link, fragment or bare token gives the token, and another server's origin", () => {
    const here = "https://mine.example.org";
    expect(parseShareInput(`  ${acceptLink(here, TOKEN)} `, here)).toEqual({ token: TOKEN, from: null });
    expect(parseShareInput(acceptLink("https://theirs.example.com:8443", TOKEN), here)).toEqual({
      token: TOKEN,
      from: "https://theirs.example.com:8443",
    });
    expect(parseShareInput(`#token=${TOKEN}`, here)).toEqual({ token: TOKEN, from: null });
    expect(parseShareInput(TOKEN, here)).toEqual({ token: TOKEN, from: null });
    expect(parseShareInput("https://mine.example.org/accept", here)).toBeNull();
    expect(parseShareInput("not a token", here)).toBeNull();
    expect(parseShareInput("short", here)).toBeNull();
    expect(parseShareInput("", here)).toBeNull();
  });

  it("a link's token waits in the tab's storage across sign-in, and is forgotten after", () => {
    const storage = new MemoryStorage();
    expect(pendingToken("", storage)).toBeNull();
    expect(pendingToken(`#token=${TOKEN}`, storage)).toBe(TOKEN);
    expect(storage.getItem(PENDING_TOKEN_KEY)).toBe(TOKEN);
    expect(pendingToken("", storage)).toBe(TOKEN); // back from the sign-in screen
    forgetPendingToken(storage);
    expect(pendingToken("", storage)).toBeNull();
  });

  it("without storage the fragment's token still works for the page", () => {
    const refusing = {
      getItem: () => {
        throw new Error("denied");
      },
      setItem: () => {
        throw new Error("denied");
      },
      removeItem: () => {
        throw new Error("denied");
      },
    };
    expect(pendingToken(`#token=${TOKEN}`, refusing)).toBe(TOKEN);
    expect(pendingToken("", refusing)).toBeNull();
    expect(() => forgetPendingToken(refusing)).not.toThrow();
  });
});

describe("shared chapters in a guest's book", () => {
  it("a share with a fork is a copy, without one a live mirror, no share neither", () => {
    expect(sharedKind({ share: "s1", forked_from: "c0" })).toBe("copy");
    expect(sharedKind({ share: "s1", forked_from: null })).toBe("mirror");
    expect(sharedKind({ share: null, forked_from: "c0" })).toBeNull();
    expect(sharedKind({})).toBeNull();
  });
});
