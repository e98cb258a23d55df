// The API calls of a chapter's connected libraries (Zotero, Notion, Confluence, a folder the
// server reads), typed by the generated schema, with their query keys.
import type { components } from "./schema";
import { client } from "./session";

type Schemas = components["schemas"];

export type Connector = Schemas["ConnectorPublic"];
export type ConnectorCreate = Schemas["ConnectorCreate"];
export type ConnectorKind = ConnectorCreate["kind"];
export type SyncReport = Schemas["SyncReportPublic"];
export type SourceMeta = Schemas["MetaPublic"];

const enc = encodeURIComponent;
const base = (chapter: string) => `/v1/chapters/${enc(chapter)}/connectors`;

export const connectorKeys = {
  list: (chapter: string) => ["connectors", chapter] as const,
};

export const listConnectors = async (chapter: string): Promise<Connector[]> =>
  (await client.request<{ connectors: Connector[] }>("GET", base(chapter))).connectors;

export const createConnector = (chapter: string, body: ConnectorCreate): Promise<Connector> =>
  client.request("POST", base(chapter), { json: body });

/** Sync now: the server answers once the sync has ended, with the connector's status. */
export const syncConnector = (chapter: string, connector: string): Promise<Connector> =>
  client.request("POST", `${base(chapter)}/${enc(connector)}/sync`);

export const deleteConnector = (chapter: string, connector: string): Promise<void> =>
  client.request("DELETE", `${base(chapter)}/${enc(connector)}`);
