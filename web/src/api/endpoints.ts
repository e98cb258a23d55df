// The API calls the screens make, each typed by the generated schema, and the query keys that
// cache their answers (one place, so a change feed or a mutation knows what to refresh).
import { client } from "./session";
import type { Book, Chapter, SearchResults, Source } from "./types";

const enc = encodeURIComponent;

export const keys = {
  me: ["me"] as const,
  books: ["books"] as const,
  book: (book: string) => ["book", book] as const,
  chapters: (book: string) => ["chapters", book] as const,
  chapter: (chapter: string) => ["chapter", chapter] as const,
  sources: (chapter: string) => ["sources", chapter] as const,
  sourceText: (chapter: string, source: string) => ["source-text", chapter, source] as const,
};

export const listBooks = async (): Promise<Book[]> =>
  (await client.request<{ books: Book[] }>("GET", "/v1/books")).books;

export const createBook = (name: string): Promise<Book> =>
  client.request("POST", "/v1/books", { json: { name } });

export const readBook = (book: string): Promise<Book> =>
  client.request("GET", `/v1/books/${enc(book)}`);

export const listChapters = async (book: string): Promise<Chapter[]> =>
  (await client.request<{ chapters: Chapter[] }>("GET", `/v1/books/${enc(book)}/chapters`))
    .chapters;

export const createChapter = (book: string, title: string): Promise<Chapter> =>
  client.request("POST", `/v1/books/${enc(book)}/chapters`, { json: { title } });

export const readChapter = (chapter: string): Promise<Chapter> =>
  client.request("GET", `/v1/chapters/${enc(chapter)}`);

export const listSources = async (chapter: string): Promise<Source[]> =>
  (await client.request<{ sources: Source[] }>("GET", `/v1/chapters/${enc(chapter)}/sources`))
    .sources;

export const addUrl = (chapter: string, url: string, tags: string[]): Promise<unknown> =>
  client.request("POST", `/v1/chapters/${enc(chapter)}/sources`, { json: { url, tags } });

export const deleteSource = (chapter: string, source: string): Promise<void> =>
  client.request("DELETE", `/v1/chapters/${enc(chapter)}/sources/${enc(source)}`);

export const readSourceText = (chapter: string, source: string): Promise<string> =>
  client.request("GET", `/v1/chapters/${enc(chapter)}/sources/${enc(source)}/text`, {
    read: "text",
    headers: { Accept: "text/plain" },
  });

export const sourceFileUrl = (chapter: string, source: string): string =>
  `/v1/chapters/${enc(chapter)}/sources/${enc(source)}/file`;

export const sourcesUrl = (chapter: string): string => `/v1/chapters/${enc(chapter)}/sources`;

export const search = (chapter: string, query: string, tags: string[]): Promise<SearchResults> =>
  client.request("POST", `/v1/chapters/${enc(chapter)}/search`, {
    json: { query, k: 10, tags: tags.length ? tags : null },
  });

/** The answer to `question` as server-sent events (read with `readEvents`). */
export const askStream = (
  chapter: string,
  question: string,
  thread: string | null,
  signal: AbortSignal,
): Promise<Response> =>
  client.request("POST", `/v1/chapters/${enc(chapter)}/ask`, {
    json: { question, thread },
    headers: { Accept: "text/event-stream" },
    read: "response",
    signal,
  });

/** The chapter's change feed after `after` (server-sent events), or a 404 where none is served. */
export const changeFeed = (chapter: string, after: number, signal: AbortSignal): Promise<Response> =>
  client.request("GET", `/v1/chapters/${enc(chapter)}/changes?after=${after}`, {
    headers: { Accept: "text/event-stream" },
    read: "response",
    signal,
  });
