// The API calls of the share dialog, the accept screen and the history screen, typed by the
// generated schema, and their query keys (kept apart from endpoints.ts so screens built in
// parallel do not edit one file).
import type { components } from "./schema";
import { client } from "./session";
import type { Chapter } from "./types";

type Schemas = components["schemas"];

export type Share = Schemas["gateway__schemas_shares__SharePublic"];
export type ShareCreate = Schemas["ShareCreate"];
export type ShareCreated = Schemas["ShareCreated"];
export type ShareMode = ShareCreate["mode"];
export type Permission = ShareCreate["permissions"][number];
export type ScopeName = NonNullable<ShareCreate["scope"]>[number];
export type Member = Schemas["MemberPublic"];
export type HistoryEntry = Schemas["HistoryEntry"];
export type HistoryPage = Schemas["HistoryPage"];
export type ChapterState = Schemas["StatePublic"];
export type StateSource = Schemas["gateway__schemas_audit__SourcePublic"];
export type Diff = Schemas["DiffPublic"];
export type Verification = Schemas["VerifyPublic"];

const enc = encodeURIComponent;

export const sharingKeys = {
  shares: (chapter: string) => ["shares", chapter] as const,
  members: (book: string) => ["members", book] as const,
  history: (chapter: string) => ["history", chapter] as const,
  state: (chapter: string, rev: number) => ["state", chapter, rev] as const,
  diff: (chapter: string, from: number, to: number) => ["diff", chapter, from, to] as const,
  verify: (chapter: string) => ["verify", chapter] as const,
};

export const listShares = async (chapter: string): Promise<Share[]> =>
  (await client.request<{ shares: Share[] }>("GET", `/v1/chapters/${enc(chapter)}/shares`)).shares;

export const createShare = (chapter: string, share: ShareCreate): Promise<ShareCreated> =>
  client.request("POST", `/v1/chapters/${enc(chapter)}/shares`, { json: share });

export const revokeShare = (chapter: string, share: string): Promise<void> =>
  client.request("DELETE", `/v1/chapters/${enc(chapter)}/shares/${enc(share)}`);

/** Accept a share into `book`; `from` is the owner's server when it is not this one. */
export const acceptShare = (token: string, book: string, from: string | null): Promise<Chapter> =>
  client.request("POST", `/v1/shares/${enc(token)}/accept`, {
    json: from ? { book, from } : { book },
  });

export const listMembers = async (book: string): Promise<Member[]> =>
  (await client.request<{ members: Member[] }>("GET", `/v1/books/${enc(book)}/members`)).members;

export const HISTORY_PAGE = 200;

export const readHistory = (chapter: string, after: number, limit = HISTORY_PAGE): Promise<HistoryPage> =>
  client.request("GET", `/v1/chapters/${enc(chapter)}/history?after=${after}&limit=${limit}`);

export const readState = (chapter: string, rev: number): Promise<ChapterState> =>
  client.request("GET", `/v1/chapters/${enc(chapter)}/state?rev=${rev}&include_removed=true`);

export const readDiff = (chapter: string, from: number, to: number): Promise<Diff> =>
  client.request("GET", `/v1/chapters/${enc(chapter)}/diff?from=${from}&to=${to}`);

export const verifyChapter = (chapter: string): Promise<Verification> =>
  client.request("GET", `/v1/chapters/${enc(chapter)}/verify`);
