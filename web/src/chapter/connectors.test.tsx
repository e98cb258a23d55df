// The connected-libraries panel and a source's reference render from what the server sent
// (server-side rendering in Node, the queries seeded): statuses, errors, the write-only key field.
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import type { ReactNode } from "react";
import { renderToString } from "react-dom/server";
import { MemoryRouter, Route, Routes } from "react-router";
import { describe, expect, it } from "vitest";
import { adminKeys } from "../api/admin";
import { connectorKeys, type Connector } from "../api/connectors";
import { keys } from "../api/endpoints";
import type { Source } from "../api/types";
import { BooksScreen } from "../screens/Books";
import { ChapterScreen } from "../screens/Chapter";
import { SourceScreen } from "../screens/Source";
import { ConnectorsPanel } from "./Connectors";

/** The page as text: React's markers between adjacent text nodes taken out. */
function render(path: string, pattern: string, screen: ReactNode, client: QueryClient): string {
  const html = renderToString(
    <QueryClientProvider client={client}>
      <MemoryRouter initialEntries={[path]}>
        <Routes>
          <Route path={pattern} element={screen} />
        </Routes>
      </MemoryRouter>
    </QueryClientProvider>,
  );
  return html.replaceAll("<!-- -->", "");
}

const SOURCE: Source = {
  id: "s1", name: "smith2020.pdf", media_type: "application/pdf", size: 613, status: "extracted",
  tags: ["collection:/Thesis", "metallurgy", "type:journalArticle"], rev: 4, origin: "zotero", chunks: 1,
  connector: "c1", ref: "FILEAAAA",
  meta: { title: "Rivers of Copper", authors: ["Smith, Ada", "Jones, Ben", "Brown, Cy"], year: 2020, doi: "10.1000/river" },
};

const REFUSED: Connector = {
  id: "c1", chapter: "ch1", kind: "zotero", library: "users/4242", base_url: "https://api.zotero.org",
  pushed: false, has_credential: true, status: "credential_rejected", last_run_at: Date.now(),
  last_error: "Zotero refused the credential (HTTP 403)", last_error_code: "connector_credential_rejected",
  report: {
    listed: 2, added: 1, revised: 0, retagged: 0, described: 0, removed: 0, rejected: 1, appended: 3,
    errors: [{ ref: "FILEBBBB", code: "unreadable", message: "jones.pdf is missing" }], error_count: 1,
  },
};

const PUSHED: Connector = {
  id: "c2", chapter: "ch1", kind: "obsidian", pushed: true, has_credential: false, status: "ok",
};

describe("connected libraries", () => {
  it("shows each connector's status, errors and sources, and a write-only key field", () => {
    const client = new QueryClient();
    client.setQueryData(connectorKeys.list("ch1"), [REFUSED, PUSHED]);
    client.setQueryData(keys.sources("ch1"), [SOURCE]);
    const html = render("/", "/", <ConnectorsPanel chapter="ch1" />, client);
    expect(html).toContain("key refused");
    expect(html).toContain("Zotero refused the credential (HTTP 403)");
    expect(html).toContain("1 item not brought in");
    expect(html).toContain("jones.pdf is missing");
    expect(html).toContain("2 listed: 1 added, 1 rejected · 1 error");
    expect(html).toContain("1 source<");
    // A vault synced from a computer: its command, and no "Sync now" (the server cannot reach it).
    expect(html).toContain("ragstack sync ch1 --connector c2 --obsidian-vault ~/Vault");
    expect(html).toContain('aria-label="Obsidian vault synced from a computer with the ragstack command line"');
    expect(html.match(/Sync now/g)?.length).toBe(2); // the Zotero row's label and text only
    // The key field: masked, never filled by the browser, empty.
    expect(html).toMatch(/<input [^>]*type="password" required="" autoComplete="new-password" maxLength="512" value=""\/>/);
  });

  it("loads, then says when nothing is connected", () => {
    const loading = render("/", "/", <ConnectorsPanel chapter="ch1" />, new QueryClient());
    expect(loading).toContain("Loading the connected libraries");
    const client = new QueryClient();
    client.setQueryData(connectorKeys.list("ch1"), []);
    expect(render("/", "/", <ConnectorsPanel chapter="ch1" />, client)).toContain("No library is connected yet");
  });
});

const DRIVE_REFUSED: Connector = {
  id: "c3", chapter: "ch1", kind: "google_drive", library: "root", pushed: false, has_credential: true,
  status: "credential_rejected", last_run_at: Date.now(),
  last_error: "Google Drive refused the sign-in: reconnect it", last_error_code: "connector_credential_rejected",
};

const PROVIDERS = [
  { name: "google", kind: "google_drive", title: "Google Drive", configured: true, device_flow: false, scopes: [] },
  { name: "dropbox", kind: "dropbox", title: "Dropbox", configured: false, device_flow: false, scopes: [] },
  { name: "microsoft", kind: "onedrive", title: "OneDrive", configured: true, device_flow: true, scopes: [] },
];

describe("libraries connected by signing in", () => {
  it("offers a refused sign-in's Reconnect first, and marks a service the server has not set up", () => {
    const client = new QueryClient();
    client.setQueryData(connectorKeys.list("ch1"), [DRIVE_REFUSED]);
    client.setQueryData(connectorKeys.providers, PROVIDERS);
    client.setQueryData(keys.sources("ch1"), []);
    const html = render("/", "/", <ConnectorsPanel chapter="ch1" />, client);
    expect(html).toContain("sign-in refused");
    expect(html).toContain("all of My Drive");
    expect(html).toContain("Sign in to Google Drive again with Reconnect");
    expect(html).toMatch(/<button type="button" class="btn btn-primary "[^>]*aria-label="Reconnect Google Drive"/);
    expect(html).toContain('<option value="google_drive">Google Drive</option>');
    expect(html).toContain('<option value="dropbox">Dropbox (not set up on this server)</option>');
  });

  it("always offers Reconnect on a connector made by signing in, and never on a pasted key", () => {
    const client = new QueryClient();
    client.setQueryData(connectorKeys.list("ch1"), [{ ...DRIVE_REFUSED, status: "ok" }, REFUSED]);
    client.setQueryData(keys.sources("ch1"), []);
    const html = render("/", "/", <ConnectorsPanel chapter="ch1" />, client);
    expect(html).toMatch(/class="btn btn-secondary "[^>]*aria-label="Reconnect Google Drive"/);
    expect(html).not.toContain("Reconnect Zotero");
    expect(html).not.toContain("Sign in to Google Drive again");
  });

  it("says on the chapter what the sign-in came back with, on its Libraries tab", () => {
    const client = new QueryClient();
    client.setQueryData(keys.chapter("ch1"), { id: "ch1", book: "b1", title: "Thesis" });
    client.setQueryData(connectorKeys.list("ch1"), [{ ...DRIVE_REFUSED, id: "c9", status: "new", last_run_at: null }]);
    client.setQueryData(keys.sources("ch1"), []);
    const ok = render("/chapters/ch1?connector=c9", "/chapters/:chapter", <ChapterScreen />, client);
    expect(ok).toContain("Google Drive connected; the first sync is running.");
    expect(ok).toMatch(/role="tab" id="tab-libraries" aria-selected="true"/);
    const refused = render("/chapters/ch1?connector_error=oauth_denied", "/chapters/:chapter", <ChapterScreen />, client);
    expect(refused).toMatch(/role="alert"><p>The sign-in was declined/);
    const plain = render("/chapters/ch1", "/chapters/:chapter", <ChapterScreen />, client);
    expect(plain).not.toContain("sign-in");
    expect(plain).toMatch(/role="tab" id="tab-sources" aria-selected="true"/);
  });

  it("says on the books page that a sign-in it cannot place connected nothing", () => {
    const client = new QueryClient();
    client.setQueryData(keys.books, []);
    const html = render("/books?connector_error=oauth_state_invalid", "/books", <BooksScreen />, client);
    expect(html).toContain("That sign-in link was not started by this server");
  });
});

describe("a source's reference", () => {
  it("shows title, authors, year, the DOI as a doi.org link, the ref and library tags as chips", () => {
    const client = new QueryClient();
    client.setQueryData(adminKeys.source("ch1", "s1"), SOURCE);
    const html = render("/chapters/ch1/sources/s1", "/chapters/:chapter/sources/:source", <SourceScreen />, client);
    expect(html).toContain("Reference from Zotero");
    expect(html).toContain("Smith, Ada; Jones, Ben; Brown, Cy");
    expect(html).toContain('href="https://doi.org/10.1000/river" rel="noopener noreferrer" target="_blank"');
    expect(html).toContain("Smith et al. (2020)");
    expect(html).toContain("FILEAAAA");
    expect(html).toMatch(/aria-label="Collections"><li class="tag">\/Thesis<\/li>/);
    expect(html).toMatch(/aria-label="Item type"><li class="tag">journalArticle<\/li>/);
  });
});
