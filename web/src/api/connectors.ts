// The API calls of a chapter's connected libraries (Zotero, Notion, Confluence, a folder the
// server reads; Google Drive, Dropbox and OneDrive by signing in), typed by the generated schema,
// with their query keys.
import type { components } from "./schema";
import { client } from "./session";

type Schemas = components["schemas"];

export type Connector = Schemas["ConnectorPublic"];
export type ConnectorCreate = Schemas["ConnectorCreate"];
export type ConnectorKind = ConnectorCreate["kind"];
export type SyncReport = Schemas["SyncReportPublic"];
export type SourceMeta = Schemas["MetaPublic"];
export type OAuthProvider = Schemas["OAuthProviderPublic"];
export type OAuthProviderName = OAuthProvider["name"];
export type OAuthStart = Schemas["OAuthStart"];
export type OAuthStarted = Schemas["OAuthStarted"];

const enc = encodeURIComponent;
const base = (chapter: string) => `/v1/chapters/${enc(chapter)}/connectors`;

export const connectorKeys = {
  list: (chapter: string) => ["connectors", chapter] as const,
  providers: ["connectors", "oauth-providers"] as const,
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

/** The services a chapter is connected to by signing in, and whether the operator set each up. */
export const listOAuthProviders = async (): Promise<OAuthProvider[]> =>
  (await client.request<{ providers: OAuthProvider[] }>("GET", "/v1/connectors/oauth/providers")).providers;

/** Begin a sign-in (a new connector, or `connector` to reconnect one): the browser then goes to
 *  `authorize_url`, and the provider sends it back to the server's callback, which returns it to
 *  the chapter page with `?connector=` or `?connector_error=`. */
export const startOAuth = (chapter: string, provider: OAuthProviderName, body: OAuthStart): Promise<OAuthStarted> =>
  client.request("POST", `${base(chapter)}/oauth/${enc(provider)}/start`, { json: body });
