import { describe, expect, it } from "vitest";
import type { Connector, SyncReport } from "../api/connectors";
import {
  CONNECTOR_KINDS,
  cite,
  connectorBody,
  connectorPlace,
  doiUrl,
  originLabel,
  pushCommand,
  referenceTags,
  reportSummary,
  statusText,
} from "./connectors";

function report(change: Partial<SyncReport>): SyncReport {
  return {
    listed: 0, added: 0, revised: 0, retagged: 0, described: 0, removed: 0, rejected: 0,
    appended: 0, errors: [], error_count: 0, ...change,
  };
}

function connector(change: Partial<Connector>): Connector {
  return { id: "c1", chapter: "ch1", kind: "zotero", pushed: false, has_credential: true, status: "new", ...change };
}

describe("the kinds table", () => {
  it("asks every pasted-key kind for a write-only credential", () => {
    for (const info of CONNECTOR_KINDS) {
      const key = info.fields.find((f) => f.name === "api_key");
      if (key) expect(key.type).toBe("password");
    }
    expect(CONNECTOR_KINDS.map((k) => k.kind)).toEqual(["zotero", "notion", "confluence", "zotero_dir", "obsidian"]);
  });
});

describe("a connector form", () => {
  it("sends only the kind's filled fields, trimmed", () => {
    expect(connectorBody("zotero", { library: " users/12 ", api_key: " k3y ", base_url: "", path: "ignored" })).toEqual({
      ok: true,
      body: { kind: "zotero", library: "users/12", api_key: "k3y" },
    });
    expect(connectorBody("obsidian", { path: "Vault" })).toEqual({ ok: true, body: { kind: "obsidian", path: "Vault" } });
  });

  it("names a missing required field, and a Zotero library of the wrong shape", () => {
    expect(connectorBody("confluence", { base_url: "https://x.atlassian.net/wiki", library: "ENG" })).toEqual({
      ok: false,
      error: "API token is required.",
    });
    const wrong = connectorBody("zotero", { library: "me", api_key: "k" });
    expect(wrong.ok).toBe(false);
    if (!wrong.ok) expect(wrong.error).toMatch(/users\/<number>/);
  });
});

describe("a connector's status", () => {
  it("reads as a person says it", () => {
    expect(statusText("credential_rejected")).toEqual({ text: "key refused", tone: "error" });
    expect(statusText("running").tone).toBe("busy");
    expect(statusText("ok").text).toBe("synced");
    expect(statusText("something_new").text).toBe("something_new");
  });

  it("sums up the last report", () => {
    expect(reportSummary(null)).toBe("");
    expect(reportSummary(report({ listed: 3, added: 2, removed: 1, error_count: 1 }))).toBe(
      "3 listed: 2 added, 1 removed · 1 error",
    );
    expect(reportSummary(report({ listed: 5 }))).toBe("5 listed: nothing changed");
  });

  it("says where it reads from, and how a pushed one is synced", () => {
    expect(connectorPlace(connector({ library: "users/1", base_url: "https://api.zotero.org" }))).toBe(
      "users/1 · https://api.zotero.org",
    );
    const pushed = connector({ kind: "obsidian", pushed: true });
    expect(connectorPlace(pushed)).toMatch(/command line/);
    expect(pushCommand(pushed)).toBe("ragstack sync ch1 --connector c1 --obsidian-vault ~/Vault");
  });
});

describe("reference metadata", () => {
  it("cites as the server does", () => {
    const meta = { title: "Rivers", authors: ["Smith, Ada"], year: 2020 };
    expect(cite(meta)).toBe("Smith (2020)");
    expect(cite({ ...meta, authors: ["Smith, Ada", "Jones, Ben"] })).toBe("Smith and Jones (2020)");
    expect(cite({ ...meta, authors: ["Smith, A", "Jones, B", "Brown, C"] })).toBe("Smith et al. (2020)");
    expect(cite({ ...meta, authors: ["Orchard Institute"], year: null })).toBe("Orchard Institute (n.d.)");
    expect(cite({ title: "Untitled work", authors: [] })).toBe("Untitled work (n.d.)");
    expect(cite({ title: "", authors: [] })).toBe("");
    expect(cite(null)).toBe("");
  });

  it("links a DOI however it is written", () => {
    expect(doiUrl("10.1000/river")).toBe("https://doi.org/10.1000/river");
    expect(doiUrl("doi:10.1000/a b")).toBe("https://doi.org/10.1000/a%20b");
    expect(doiUrl("https://doi.org/10.1000/x")).toBe("https://doi.org/10.1000/x");
  });

  it("marks connector sources by origin and splits library tags", () => {
    expect(originLabel("zotero")).toBe("Zotero");
    expect(originLabel("obsidian")).toBe("Obsidian");
    expect(originLabel("upload")).toBeNull();
    expect(originLabel("url")).toBeNull();
    expect(originLabel("dropbox")).toBe("Dropbox");
    expect(referenceTags(["collection:/Thesis/Ch2", "metallurgy", "type:journalArticle"])).toEqual({
      collections: ["/Thesis/Ch2"],
      types: ["journalArticle"],
      other: ["metallurgy"],
    });
  });
});
