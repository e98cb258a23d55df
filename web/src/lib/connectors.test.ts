import { describe, expect, it } from "vitest";
import type { Connector, OAuthProvider, SyncReport } from "../api/connectors";
import {
  availability,
  CONNECTOR_KINDS,
  cite,
  connectorBody,
  connectorPlace,
  doiUrl,
  isOAuthKind,
  kindInfo,
  oauthConnectedText,
  oauthErrorText,
  oauthStartBody,
  originLabel,
  pushCommand,
  referenceTags,
  reportSummary,
  statusText,
  unconfiguredText,
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
    expect(CONNECTOR_KINDS.map((k) => k.kind)).toEqual([
      "zotero", "notion", "confluence", "google_drive", "dropbox", "onedrive", "zotero_dir", "obsidian",
    ]);
  });

  it("connects Google Drive, Dropbox and OneDrive by signing in, with an optional folder and no key", () => {
    const signIns = CONNECTOR_KINDS.filter((k) => k.connect).map((k) => [k.kind, k.connect?.provider, k.connect?.button]);
    expect(signIns).toEqual([
      ["google_drive", "google", "Connect with Google Drive"],
      ["dropbox", "dropbox", "Connect with Dropbox"],
      ["onedrive", "microsoft", "Connect with OneDrive"],
    ]);
    for (const info of CONNECTOR_KINDS.filter((k) => k.connect)) {
      expect(info.fields.map((f) => [f.name, f.required])).toEqual([["library", false]]);
    }
    expect(isOAuthKind("dropbox")).toBe(true);
    expect(isOAuthKind("zotero")).toBe(false);
  });
});

describe("which sign-ins are offered", () => {
  const provider = (name: OAuthProvider["name"], configured: boolean): OAuthProvider => ({
    name, kind: "", title: "", configured, device_flow: false, scopes: [],
  });
  const drive = kindInfo("google_drive")!;

  it("follows the server's providers: set up, not set up, or not known yet", () => {
    expect(availability(drive, [provider("google", true), provider("dropbox", false)])).toBe("ready");
    expect(availability(kindInfo("dropbox")!, [provider("google", true), provider("dropbox", false)])).toBe("unconfigured");
    expect(availability(drive, undefined)).toBe("unknown");
    expect(availability(drive, [provider("dropbox", true)])).toBe("unknown");
    expect(availability(kindInfo("zotero")!, undefined)).toBe("ready");
    expect(unconfiguredText(drive)).toBe(
      "The server's operator has not set up Google sign-in, so Google Drive cannot be connected here yet: ask them to register this server with it.",
    );
  });
});

describe("a sign-in's folder", () => {
  it("is left out when empty: the whole drive", () => {
    for (const kind of ["google_drive", "dropbox", "onedrive"] as const) {
      expect(oauthStartBody(kind, { library: "  " })).toEqual({ ok: true, body: {} });
      expect(oauthStartBody(kind, {})).toEqual({ ok: true, body: {} });
    }
    expect(oauthStartBody("dropbox", { library: "/" })).toEqual({ ok: true, body: {} });
  });

  it("takes a Drive folder's ID or its address", () => {
    expect(oauthStartBody("google_drive", { library: " 1AbC-d_9 " })).toEqual({ ok: true, body: { library: "1AbC-d_9" } });
    expect(oauthStartBody("google_drive", { library: "https://drive.google.com/drive/folders/1AbC-d_9?usp=sharing" }))
      .toEqual({ ok: true, body: { library: "1AbC-d_9" } });
    expect(oauthStartBody("google_drive", { library: "https://drive.google.com/drive/u/1/folders/XyZ" }))
      .toEqual({ ok: true, body: { library: "XyZ" } });
    expect(oauthStartBody("google_drive", { library: "https://drive.google.com/open?id=Q1w2" }))
      .toEqual({ ok: true, body: { library: "Q1w2" } });
    const refused = oauthStartBody("google_drive", { library: "My Folder' or 1=1" });
    expect(refused).toEqual({ ok: false, error: expect.stringContaining("Google Drive folder's address or ID") });
    expect(oauthStartBody("google_drive", { library: "https://example.com/folders/a b" }).ok).toBe(false);
  });

  it("takes a Dropbox path from the top, without a trailing slash", () => {
    expect(oauthStartBody("dropbox", { library: "/Research/2026/" })).toEqual({ ok: true, body: { library: "/Research/2026" } });
    expect(oauthStartBody("dropbox", { library: "Research" })).toEqual({ ok: true, body: { library: "/Research" } });
    expect(oauthStartBody("dropbox", { library: "/Research//2026" })).toEqual({
      ok: false, error: "Folder is a Dropbox path like /Research/2026 (empty: all of your Dropbox).",
    });
    expect(oauthStartBody("dropbox", { library: "/" + "a".repeat(1000) }).ok).toBe(false);
  });

  it("takes a OneDrive item ID", () => {
    expect(oauthStartBody("onedrive", { library: "1A2B3C4D5E!123" })).toEqual({ ok: true, body: { library: "1A2B3C4D5E!123" } });
    expect(oauthStartBody("onedrive", { library: "../me" }).ok).toBe(false);
    expect(oauthStartBody("onedrive", { library: "a/b" }).ok).toBe(false);
  });
});

describe("back from a sign-in", () => {
  it("names the service connected, or reconnected, and its running sync", () => {
    expect(oauthConnectedText(connector({ kind: "google_drive" }))).toBe("Google Drive connected; the first sync is running.");
    expect(oauthConnectedText(connector({ kind: "dropbox", last_run_at: 1 }))).toBe("Dropbox reconnected; a sync is running.");
    expect(oauthConnectedText(undefined)).toBe("Library connected; the first sync is running.");
  });

  it("says plainly why nothing was connected, for each of the server's codes", () => {
    const codes = ["oauth_denied", "oauth_state_expired", "oauth_state_used", "oauth_state_invalid", "oauth_failed",
      "forbidden", "not_found"];
    const texts = codes.map(oauthErrorText);
    expect(new Set(texts).size).toBe(codes.length);
    for (const text of texts) expect(text).not.toMatch(/oauth_|undefined/);
    expect(oauthErrorText("oauth_denied")).toContain("declined");
    expect(oauthErrorText("oauth_state_expired")).toContain("expired");
    expect(oauthErrorText("oauth_state_invalid")).toContain("not started by this server");
    expect(oauthErrorText("something_new")).toBe(
      "The sign-in did not complete (something_new), so nothing was connected. Connect again to retry.",
    );
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
    expect(statusText("credential_rejected", "zotero").text).toBe("key refused");
    expect(statusText("credential_rejected", "google_drive")).toEqual({ text: "sign-in refused", tone: "error" });
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
    expect(connectorPlace(connector({ kind: "google_drive", library: "root" }))).toBe("all of My Drive");
    expect(connectorPlace(connector({ kind: "google_drive", library: "1AbC" }))).toBe("folder 1AbC");
    expect(connectorPlace(connector({ kind: "dropbox", library: "" }))).toBe("all of the Dropbox");
    expect(connectorPlace(connector({ kind: "dropbox", library: "/Research" }))).toBe("/Research");
    expect(connectorPlace(connector({ kind: "onedrive", library: null }))).toBe("all of the OneDrive");
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
