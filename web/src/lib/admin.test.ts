import { describe, expect, it } from "vitest";
import type { LlmSettings, Member } from "../api/admin";
import { ago, expiry, filterChapters, keepsKey, llmForm, llmUpdate, mayRemove, removeLabel, roleChoices } from "./admin";

const NOW = Date.UTC(2026, 11, 6, 12, 0, 0);
const MIN = 60_000;
const DAY = 86_400_000;

function member(user: string, role: Member["role"], pending = false): Member {
  return { user, email: `${user}@example.org`, role, pending };
}

describe("times", () => {
  it("say how long ago", () => {
    expect(ago(NOW - 10_000, NOW)).toBe("just now");
    expect(ago(NOW - 5 * MIN, NOW)).toBe("5 min ago");
    expect(ago(NOW - 3 * 60 * MIN, NOW)).toBe("3 h ago");
    expect(ago(NOW - DAY, NOW)).toBe("1 day ago");
    expect(ago(NOW - 2 * DAY, NOW)).toBe("2 days ago");
    expect(ago(Date.UTC(2025, 0, 2), NOW)).toBe("2025-01-02");
  });

  it("say when a token expires, or that it has", () => {
    expect(expiry(null, NOW)).toEqual({ text: "never expires", expired: false });
    expect(expiry(NOW - 1, NOW)).toEqual({ text: "expired", expired: true });
    expect(expiry(NOW + 30_000, NOW).text).toBe("expires in 1 min");
    expect(expiry(NOW + 5 * 60 * MIN, NOW).text).toBe("expires in 5 h");
    expect(expiry(NOW + 30 * DAY, NOW).text).toBe("expires in 30 days");
    expect(expiry(NOW + 30 * DAY - 5_000, NOW).text).toBe("expires in 30 days");
    expect(expiry(NOW + DAY + 1, NOW).text).toBe("expires in 1 day");
  });
});

describe("roles", () => {
  const owner = member("o", "owner");
  const admin = member("a", "admin");
  const plain = member("m", "member");
  const invited = member("email:x@example.org", "member", true);

  it("the owner may hand over ownership to an account, never to an invitation or to themself", () => {
    expect(roleChoices("owner", "o", plain)).toEqual(["owner", "admin", "member"]);
    expect(roleChoices("owner", "o", invited)).toEqual(["admin", "member"]);
    expect(roleChoices("owner", "o", owner)).toEqual([]);
  });

  it("admins manage members but not the owner nor ownership; members change nothing", () => {
    expect(roleChoices("admin", "a", plain)).toEqual(["admin", "member"]);
    expect(roleChoices("admin", "a", owner)).toEqual([]);
    expect(roleChoices("member", "m", admin)).toEqual([]);
    expect(roleChoices("member", "m", plain)).toEqual([]);
  });

  it("anyone may leave, admins may remove, the owner never goes", () => {
    expect(mayRemove("member", "m", plain)).toBe(true);
    expect(mayRemove("member", "m", admin)).toBe(false);
    expect(mayRemove("admin", "a", plain)).toBe(true);
    expect(mayRemove("admin", "a", owner)).toBe(false);
    expect(mayRemove("owner", "o", owner)).toBe(false);
    expect(removeLabel("m", plain)).toBe("Leave the book");
    expect(removeLabel("a", invited)).toBe("Withdraw the invitation to email:x@example.org@example.org");
    expect(removeLabel("a", plain)).toBe("Remove m@example.org");
  });
});

describe("LLM settings", () => {
  const own: LlmSettings = {
    source: "book", kind: "openai", model: "gpt-4o-mini", base_url: null, has_api_key: true,
  };
  const server: LlmSettings = {
    source: "server", kind: "ollama", model: "llama3", base_url: "http://gpu:11434", has_api_key: false,
  };

  it("fill the form without the key, from the server's default too (but not its URL)", () => {
    expect(llmForm(own)).toEqual({ kind: "openai", model: "gpt-4o-mini", baseUrl: "", key: "", clearKey: false });
    expect(llmForm(server)).toMatchObject({ kind: "ollama", model: "llama3", baseUrl: "" });
    expect(llmForm(undefined).kind).toBe("extractive");
  });

  it("keep the stored key by leaving it out, only for the same kind and URL", () => {
    const form = llmForm(own);
    expect(keepsKey(own, form)).toBe(true);
    const kept = llmUpdate(own, { ...form, model: "gpt-4.1" });
    expect(kept).toEqual({ ok: true, body: { kind: "openai", model: "gpt-4.1", base_url: null } });
    expect(kept.ok && "api_key" in kept.body).toBe(false);
    // Another URL drops the stored key: an OpenAI-compatible server without a key is fine…
    expect(llmUpdate(own, { ...form, baseUrl: "http://llm.local:8080/v1" })).toEqual({
      ok: true,
      body: { kind: "openai", model: "gpt-4o-mini", base_url: "http://llm.local:8080/v1", api_key: null },
    });
    // …but another public provider needs its own key.
    const refused = llmUpdate(own, { ...form, kind: "anthropic" });
    expect(refused.ok).toBe(false);
    expect(!refused.ok && refused.error).toMatch(/Anthropic needs an API key/);
  });

  it("send a new key, or forget the stored one where none is needed", () => {
    expect(llmUpdate(own, { ...llmForm(own), key: "  sk-new  " })).toMatchObject({
      ok: true,
      body: { api_key: "sk-new" },
    });
    const local = { ...llmForm(server), kind: "ollama" as const, baseUrl: "http://gpu:11434", clearKey: true };
    expect(llmUpdate({ ...own, kind: "ollama", base_url: "http://gpu:11434" }, local)).toMatchObject({
      ok: true,
      body: { api_key: null },
    });
    // Forgetting the key of a provider that needs one is refused before it is sent.
    expect(llmUpdate(own, { ...llmForm(own), clearKey: true }).ok).toBe(false);
  });

  it("refuse a URL with a query or without a scheme, and a key with spaces", () => {
    const form = { ...llmForm(server), kind: "ollama" as const };
    expect(llmUpdate(server, { ...form, baseUrl: "gpu:11434" }).ok).toBe(false);
    expect(llmUpdate(server, { ...form, baseUrl: "http://gpu/?key=1" }).ok).toBe(false);
    expect(llmUpdate(server, { ...form, key: "a b" }).ok).toBe(false);
    expect(llmUpdate(server, { ...form, kind: "extractive" })).toEqual({
      ok: true,
      body: { kind: "extractive", model: "" },
    });
  });
});

describe("the admin view of chapters", () => {
  const emails = new Map([
    ["u1", "zoe@example.org"],
    ["u2", "ada@example.org"],
  ]);
  const chapters = [
    { id: "1", title: "Whales", assignee: "u1" },
    { id: "2", title: "Bees", assignee: "u1" },
    { id: "3", title: "Ships", assignee: "u2" },
  ];

  it("sorts by assignee's e-mail then title, and filters by title and assignee", () => {
    expect(filterChapters(chapters, emails, "", "").map((c) => c.id)).toEqual(["3", "2", "1"]);
    expect(filterChapters(chapters, emails, "  wHa ", "").map((c) => c.id)).toEqual(["1"]);
    expect(filterChapters(chapters, emails, "", "u1").map((c) => c.id)).toEqual(["2", "1"]);
    expect(filterChapters(chapters, emails, "ships", "u1")).toEqual([]);
  });
});
