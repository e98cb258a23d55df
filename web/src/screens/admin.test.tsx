// The administration screens, a source's detail and the threads picker render their first state
// without a browser (server-side rendering in Node): each starts loading, labelled, never blank.
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import type { ReactNode } from "react";
import { renderToString } from "react-dom/server";
import { MemoryRouter, Route, Routes } from "react-router";
import { describe, expect, it } from "vitest";
import { keys } from "../api/endpoints";
import { adminKeys } from "../api/admin";
import type { Book } from "../api/types";
import { ThreadPicker } from "../chapter/Threads";
import { AllChaptersScreen } from "./AllChapters";
import { BookSettingsScreen } from "./BookSettings";
import { SourceScreen } from "./Source";
import { TokensScreen } from "./Tokens";

function render(path: string, pattern: string, screen: ReactNode, client = new QueryClient()): string {
  return renderToString(
    <QueryClientProvider client={client}>
      <MemoryRouter initialEntries={[path]}>
        <Routes>
          <Route path={pattern} element={screen} />
        </Routes>
      </MemoryRouter>
    </QueryClientProvider>,
  );
}

const BOOK: Book = {
  id: "b1", name: "Lab", role: "member", owner: "u0", external_sharing: true, chapters: 1, members: 2,
  plan: "free",
};

function seeded(book: Book): QueryClient {
  const client = new QueryClient();
  client.setQueryData(keys.book(book.id), book);
  client.setQueryData(keys.me, { id: "u1", email: "m@example.org", name: "M", created_at: 0 });
  return client;
}

describe("administration screens", () => {
  it("API tokens: a labelled create form, and the list loading", () => {
    const html = render("/tokens", "/tokens", <TokensScreen />);
    expect(html).toContain("Token name");
    expect(html).toContain("Expires after");
    expect(html).toContain("Loading your tokens");
  });

  it("book settings: members, sharing and LLM sections; a member sees no admin links", () => {
    const html = render("/books/b1/settings", "/books/:book/settings", <BookSettingsScreen />, seeded(BOOK));
    expect(html).toContain("Members");
    expect(html).toContain("Loading members");
    expect(html).toContain("Chapters may be shared with people outside this book");
    expect(html).toContain("Only the book&#x27;s owner and admins can change this");
    expect(html).not.toContain("Invite by e-mail");
    expect(html).not.toContain("all-chapters");
  });

  it("book settings: an admin gets the invite form and the all-chapters entry", () => {
    const html = render(
      "/books/b1/settings",
      "/books/:book/settings",
      <BookSettingsScreen />,
      seeded({ ...BOOK, role: "admin" }),
    );
    expect(html).toContain("Invite by e-mail");
    expect(html).toContain('href="/books/b1/all-chapters"');
  });

  it("all chapters: refused to a member, loading for an admin", () => {
    const member = render("/books/b1/all-chapters", "/books/:book/all-chapters", <AllChaptersScreen />, seeded(BOOK));
    expect(member).toContain("Only the book&#x27;s owner and admins see all of its chapters");
    const admin = render(
      "/books/b1/all-chapters",
      "/books/:book/all-chapters",
      <AllChaptersScreen />,
      seeded({ ...BOOK, role: "owner" }),
    );
    expect(admin).toContain("Loading chapters");
  });

  it("a source: loading first; then its facts, tags, and a stale-safe editor entry", () => {
    expect(render("/chapters/c1/sources/s1", "/chapters/:chapter/sources/:source", <SourceScreen />)).toContain(
      "Loading the source",
    );
    const client = new QueryClient();
    client.setQueryData(adminKeys.source("c1", "s1"), {
      id: "s1", name: "bees.txt", media_type: "text/plain", size: 2048, status: "extracted",
      reason: null, tags: ["insects"], rev: 7, chunks: 3,
    });
    client.setQueryData([...keys.sourceText("c1", "s1"), 7], "Bees dance.");
    const html = render("/chapters/c1/sources/s1", "/chapters/:chapter/sources/:source", <SourceScreen />, client);
    expect(html).toContain("bees.txt");
    expect(html).toContain("Remove the tag insects");
    expect(html).toContain("Edit the text");
    expect(html).toContain("Bees dance.");
    expect(html).toContain('href="/v1/chapters/c1/sources/s1/file"');
  });

  it("the threads picker names the current thread and offers a new one", () => {
    const client = new QueryClient();
    client.setQueryData(adminKeys.threads("c1"), [
      { id: "t1", title: "How do bees dance?", actor: "u", created_rev: 3, created_at: 0, message_count: 4, last_at: 0 },
    ]);
    const html = render(
      "/chapters/c1",
      "/chapters/:chapter",
      <ThreadPicker chapter="c1" current="t1" busy={false} pick={() => undefined} />,
      client,
    );
    expect(html).toContain("How do bees dance?");
    expect(html).toContain("New thread");
    expect(html).toContain('aria-current="true"');
    expect(html).toContain("2 questions");
  });

  it("the threads picker says when there are none, and offers a retry when they failed to load", () => {
    const none = new QueryClient();
    none.setQueryData(adminKeys.threads("c1"), []);
    const empty = render(
      "/chapters/c1",
      "/chapters/:chapter",
      <ThreadPicker chapter="c1" current={null} busy={false} pick={() => undefined} />,
      none,
    );
    expect(empty).toContain("No threads yet: your first question starts one.");
    expect(empty).not.toContain('aria-label="Threads"');

    // retryOnMount off: the failed read is shown as it is, not fetched again while rendering.
    const failed = new QueryClient({ defaultOptions: { queries: { retryOnMount: false } } });
    failed
      .getQueryCache()
      .build(failed, { queryKey: adminKeys.threads("c1") })
      .setState({ status: "error", error: new Error("The server is busy: try again."), fetchStatus: "idle" });
    const html = render(
      "/chapters/c1",
      "/chapters/:chapter",
      <ThreadPicker chapter="c1" current={null} busy={false} pick={() => undefined} />,
      failed,
    );
    expect(html).toContain('role="alert"');
    expect(html).toContain("The server is busy: try again.");
    expect(html).toContain("Retry");
  });
});
