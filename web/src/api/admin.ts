// The API calls of the account and book administration screens, a source's detail and chat
// threads, typed by the generated schema, with their query keys. Kept apart from endpoints.ts so
// that the screens each helper adds stay in their own files.
import type { components } from "./schema";
import { client } from "./session";
import type { Book, Chapter, Source } from "./types";

type Schemas = components["schemas"];

export type Token = Schemas["TokenPublic"];
export type TokenCreated = Schemas["TokenCreated"];
export type Member = Schemas["MemberPublic"];
export type MemberCreated = Schemas["MemberCreated"];
export type Role = Member["role"];
export type LlmSettings = Schemas["LLMSettingsPublic"];
export type LlmUpdate = Schemas["LLMSettingsUpdate"];
export type LlmKind = LlmUpdate["kind"];
export type Thread = Schemas["ThreadPublic"];
export type Message = Schemas["MessagePublic"];

const enc = encodeURIComponent;

export const adminKeys = {
  tokens: ["tokens"] as const,
  members: (book: string) => ["members", book] as const,
  llm: (book: string) => ["llm", book] as const,
  source: (chapter: string, source: string) => ["source", chapter, source] as const,
  threads: (chapter: string) => ["threads", chapter] as const,
  messages: (chapter: string, thread: string) => ["messages", chapter, thread] as const,
};

// -- API tokens ---------------------------------------------------------------------------------

export const listTokens = async (): Promise<Token[]> =>
  (await client.request<{ tokens: Token[] }>("GET", "/v1/auth/tokens")).tokens;

export const createToken = (name: string, ttlSeconds: number | null): Promise<TokenCreated> =>
  client.request("POST", "/v1/auth/tokens", { json: { name, ttl_s: ttlSeconds } });

export const revokeToken = (id: string): Promise<void> =>
  client.request("DELETE", `/v1/auth/tokens/${enc(id)}`);

// -- a book's members, policy and LLM -------------------------------------------------------------

export const listMembers = async (book: string): Promise<Member[]> =>
  (await client.request<{ members: Member[] }>("GET", `/v1/books/${enc(book)}/members`)).members;

export const addMember = (book: string, email: string, role: Role): Promise<MemberCreated> =>
  client.request("POST", `/v1/books/${enc(book)}/members`, { json: { email, role } });

export const changeRole = (book: string, user: string, role: Role): Promise<Member> =>
  client.request("PATCH", `/v1/books/${enc(book)}/members/${enc(user)}`, { json: { role } });

export const removeMember = (book: string, user: string): Promise<void> =>
  client.request("DELETE", `/v1/books/${enc(book)}/members/${enc(user)}`);

export const setExternalSharing = (book: string, on: boolean): Promise<Book> =>
  client.request("PATCH", `/v1/books/${enc(book)}`, { json: { external_sharing: on } });

export const readLlm = (book: string): Promise<LlmSettings> =>
  client.request("GET", `/v1/books/${enc(book)}/llm`);

export const writeLlm = (book: string, settings: LlmUpdate): Promise<LlmSettings> =>
  client.request("PUT", `/v1/books/${enc(book)}/llm`, { json: settings });

export const resetLlm = (book: string): Promise<LlmSettings> =>
  client.request("DELETE", `/v1/books/${enc(book)}/llm`);

export const reassignChapter = (chapter: string, assignee: string): Promise<Chapter> =>
  client.request("PATCH", `/v1/chapters/${enc(chapter)}`, { json: { assignee } });

// -- one source ---------------------------------------------------------------------------------

const sourceUrl = (chapter: string, source: string) =>
  `/v1/chapters/${enc(chapter)}/sources/${enc(source)}`;

export const readSource = (chapter: string, source: string): Promise<Source> =>
  client.request("GET", sourceUrl(chapter, source));

/** Retag and/or correct the text, based on the source's `rev` as read (409 `source_changed`). */
export const updateSource = (
  chapter: string,
  source: string,
  change: { tags?: string[]; text?: string; rev: number },
): Promise<Source> => client.request("PATCH", sourceUrl(chapter, source), { json: change });

// -- chat threads -------------------------------------------------------------------------------

export const listThreads = async (chapter: string): Promise<Thread[]> =>
  (
    await client.request<{ threads: Thread[] }>(
      "GET",
      `/v1/chapters/${enc(chapter)}/threads?limit=100`,
    )
  ).threads;

/** Every message of a thread, oldest first (the API pages them by rev). */
export async function listMessages(chapter: string, thread: string): Promise<Message[]> {
  const all: Message[] = [];
  let after = 0;
  for (;;) {
    const page = await client.request<{ messages: Message[]; next_after_rev: number | null }>(
      "GET",
      `/v1/chapters/${enc(chapter)}/threads/${enc(thread)}/messages?after_rev=${after}&limit=500`,
    );
    all.push(...page.messages);
    if (page.next_after_rev === null || page.next_after_rev === undefined) return all;
    after = page.next_after_rev;
  }
}
