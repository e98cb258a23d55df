// Names for the API's shapes, generated from the server's OpenAPI document (`npm run api`).
import type { components } from "./schema";

type Schemas = components["schemas"];

export type User = Schemas["UserPublic"];
export type Book = Schemas["BookPublic"];
export type Chapter = Schemas["ChapterPublic"];
export type Source = Schemas["gateway__schemas_sources__SourcePublic"];
export type SourceStatus = Source["status"];
export type Hit = Schemas["HitPublic"];
export type SearchResults = Schemas["SearchResults"];
export type Span = Schemas["SpanPublic"];
export type Citation = Schemas["CitationPublic"];
export type Answer = Schemas["AnswerPublic"];
export type Usage = Schemas["UsagePublic"];

/** One entry of a chapter's change feed (`GET /v1/chapters/{ch}/changes`, `event: change`). */
export interface Change {
  rev: number;
  type: string;
  actor: string;
  at: number;
  summary: string;
  source?: string;
}
