// The rules of the connected-libraries panel and of a source's reference metadata, without React:
// the kinds the server takes and the fields each asks for (one table: a kind that signs in with
// OAuth, Google Drive, Dropbox or OneDrive, has `connect` and the panel shows its "Connect with …"
// button and an optional folder instead of a key), what a filled form sends (the key is
// write-only: sent once, never shown again), what the chapter page says when a sign-in sends the
// browser back (`?connector=` or `?connector_error=`), how a connector's status and last report
// read, and how a work is cited ("Smith et al. (2020)", the same rule as events.SourceMeta.cite on
// the server).
import type {
  Connector,
  ConnectorCreate,
  ConnectorKind,
  OAuthProvider,
  OAuthProviderName,
  OAuthStart,
  SourceMeta,
  SyncReport,
} from "../api/connectors";

/** The kinds made by signing in at the provider (POST …/oauth/{provider}/start), never posted. */
export type OAuthKind = "google_drive" | "dropbox" | "onedrive";
export type KindId = ConnectorKind | OAuthKind;

export type FieldName = "library" | "api_key" | "base_url" | "path" | "email";

export interface KindField {
  name: FieldName;
  label: string;
  /** `password` for the credential: the browser masks it and never offers it back. */
  type: "text" | "password" | "url" | "email";
  required: boolean;
  placeholder?: string;
  hint?: string;
}

/** How an OAuth kind is connected. */
export interface OAuthConnect {
  provider: OAuthProviderName;
  /** The button: "Connect with Google Drive". */
  button: string;
  /** What the operator sets up, as a person names it: "Google sign-in". */
  signIn: string;
}

export interface KindInfo {
  kind: KindId;
  /** What the kind picker shows. */
  label: string;
  /** What a connector of the kind is called in the list. */
  name: string;
  /** What a source from it is marked with in the sources list. */
  origin: string;
  /** What the form asks for (an OAuth kind: its optional folder, sent with the sign-in). */
  fields: KindField[];
  /** An OAuth kind's sign-in: its provider and button. */
  connect?: OAuthConnect;
}

const KEY_HINT = "Stored encrypted on the server; it is never shown again, here or anywhere.";
const BASE_URL: KindField = {
  name: "base_url",
  label: "Server address",
  type: "url",
  required: false,
  placeholder: "empty: the public service",
  hint: "Only for a self-hosted or test server.",
};
const FOLDER_HINT =
  "A folder the server itself reads, under the operator's [connectors] local_root. To sync one on your computer, use the command line instead.";

export const CONNECTOR_KINDS: KindInfo[] = [
  {
    kind: "zotero",
    label: "Zotero (Web API)",
    name: "Zotero (Web API)",
    origin: "Zotero",
    fields: [
      { name: "library", label: "Library", type: "text", required: true, placeholder: "users/123456 or groups/123456",
        hint: "Your user ID is on zotero.org/settings/keys; a group's is in its address." },
      { name: "api_key", label: "API key", type: "password", required: true, hint: KEY_HINT },
      BASE_URL,
    ],
  },
  {
    kind: "notion",
    label: "Notion",
    name: "Notion",
    origin: "Notion",
    fields: [
      { name: "api_key", label: "Integration secret", type: "password", required: true,
        hint: "The pages shared with this integration are synced. " + KEY_HINT },
      BASE_URL,
    ],
  },
  {
    kind: "confluence",
    label: "Confluence",
    name: "Confluence",
    origin: "Confluence",
    fields: [
      { name: "base_url", label: "Site address", type: "url", required: true,
        placeholder: "https://your-site.atlassian.net/wiki" },
      { name: "library", label: "Space key", type: "text", required: true, placeholder: "ENG" },
      { name: "email", label: "Account e-mail", type: "email", required: false,
        hint: "Confluence Cloud: the e-mail of the token's account. Empty for a Data Center personal token." },
      { name: "api_key", label: "API token", type: "password", required: true, hint: KEY_HINT },
    ],
  },
  {
    kind: "google_drive",
    label: "Google Drive",
    name: "Google Drive",
    origin: "Google Drive",
    fields: [
      { name: "library", label: "Folder", type: "text", required: false, placeholder: "empty: all of My Drive",
        hint: "The folder's address (drive.google.com/drive/folders/…) or its ID, the address's last part. " +
          "Its subfolders become collections." },
    ],
    connect: { provider: "google", button: "Connect with Google Drive", signIn: "Google sign-in" },
  },
  {
    kind: "dropbox",
    label: "Dropbox",
    name: "Dropbox",
    origin: "Dropbox",
    fields: [
      { name: "library", label: "Folder", type: "text", required: false, placeholder: "/Research (empty: all of your Dropbox)",
        hint: "The folder's path from the top of your Dropbox. Its subfolders become collections." },
    ],
    connect: { provider: "dropbox", button: "Connect with Dropbox", signIn: "Dropbox sign-in" },
  },
  {
    kind: "onedrive",
    label: "OneDrive",
    name: "OneDrive",
    origin: "OneDrive",
    fields: [
      { name: "library", label: "Folder ID", type: "text", required: false, placeholder: "empty: all of your OneDrive",
        hint: "The folder's item ID (like 1A2B3C4D5E!123: the id= part of its onedrive.live.com address). " +
          "Its subfolders become collections." },
    ],
    connect: { provider: "microsoft", button: "Connect with OneDrive", signIn: "Microsoft sign-in" },
  },
  {
    kind: "zotero_dir",
    label: "Zotero data directory (on the server)",
    name: "Zotero data directory",
    origin: "Zotero",
    fields: [{ name: "path", label: "Folder", type: "text", required: true, placeholder: "Zotero", hint: FOLDER_HINT }],
  },
  {
    kind: "obsidian",
    label: "Obsidian vault (on the server)",
    name: "Obsidian vault",
    origin: "Obsidian",
    fields: [{ name: "path", label: "Folder", type: "text", required: true, placeholder: "Vault", hint: FOLDER_HINT }],
  },
];

export function kindInfo(kind: string): KindInfo | undefined {
  return CONNECTOR_KINDS.find((k) => k.kind === kind);
}

/** Whether a connector of `kind` was made by signing in (it is reconnected the same way). */
export function isOAuthKind(kind: string): kind is OAuthKind {
  return kindInfo(kind)?.connect !== undefined;
}

/** Whether the picker may offer an OAuth kind: `ready` when the server's operator has set up its
 *  provider, `unconfigured` when not (Connect would answer 409), `unknown` while the list loads
 *  or when it could not be read. A kind with a key is always `ready`. */
export function availability(
  info: KindInfo,
  providers: OAuthProvider[] | undefined,
): "ready" | "unconfigured" | "unknown" {
  if (!info.connect) return "ready";
  const provider = providers?.find((p) => p.name === info.connect?.provider);
  if (!provider) return "unknown";
  return provider.configured ? "ready" : "unconfigured";
}

/** Why an OAuth kind's button is off: the operator has not registered the server with it. */
export function unconfiguredText(info: KindInfo): string {
  return `The server's operator has not set up ${info.connect?.signIn ?? "sign-in"}, so ${info.name} cannot be connected here yet: ask them to register this server with it.`;
}

const DRIVE_FOLDER = /^[A-Za-z0-9_-]{1,200}$/;
const ONEDRIVE_ITEM = /^[A-Za-z0-9!_.-]{1,200}$/;

/** A Drive folder's ID from what a person pastes: the ID, or the folder's address
 *  (…/drive/folders/<id>, …/drive/u/0/folders/<id>?usp=…, or ?id=<id>). */
function driveFolder(value: string): string {
  try {
    const url = new URL(value);
    if (!/(^|\.)google\.com$/.test(url.hostname)) return value;
    const folders = url.pathname.match(/\/folders\/([^/]+)/);
    return folders?.[1] ?? url.searchParams.get("id") ?? value;
  } catch {
    return value; // not an address: the ID itself
  }
}

/** What a sign-in starts with: the folder (checked as the server checks it: engine/connectors
 *  google_drive `check_folder`, dropbox `check_dropbox_path`, onedrive `check_item`), or why
 *  not. An empty folder is left out: the server's default is the whole drive. */
export function oauthStartBody(
  kind: OAuthKind,
  form: ConnectorForm,
): { ok: true; body: OAuthStart } | { ok: false; error: string } {
  let folder = (form.library ?? "").trim();
  if (!folder) return { ok: true, body: {} };
  if (kind === "google_drive") {
    folder = driveFolder(folder);
    if (!DRIVE_FOLDER.test(folder)) {
      return { ok: false, error: "Folder is a Google Drive folder's address or ID (letters, digits, - and _), or empty for all of My Drive." };
    }
  } else if (kind === "dropbox") {
    // A Dropbox path is always from the top: "Research" means "/Research".
    folder = (folder.startsWith("/") ? folder : `/${folder}`).replace(/\/+$/, "");
    if (folder.includes("//") || folder.length > 1000) {
      return { ok: false, error: "Folder is a Dropbox path like /Research/2026 (empty: all of your Dropbox)." };
    }
    if (!folder) return { ok: true, body: {} };
  } else if (!ONEDRIVE_ITEM.test(folder)) {
    return { ok: false, error: "Folder ID is a OneDrive item ID like 1A2B3C4D5E!123 (empty: all of your OneDrive)." };
  }
  return { ok: true, body: { library: folder } };
}

/** What the chapter page says when the server's sign-in callback sent the browser back with
 *  `?connector_error=<code>` (app/oauth.py `callback`). */
export function oauthErrorText(code: string): string {
  switch (code) {
    case "oauth_denied":
      return "The sign-in was declined (at the service, or by you), so nothing was connected. Connect again to retry.";
    case "oauth_state_expired":
      return "The sign-in took longer than its 10 minutes and expired, so nothing was connected. Connect again to retry.";
    case "oauth_state_used":
      return "That sign-in had already been used (a page reloaded or opened twice?). The library it connected, if any, is listed under Libraries.";
    case "oauth_state_invalid":
      return "That sign-in link was not started by this server, or is too old to recognise, so nothing was connected. Open the chapter and connect again from its Libraries tab.";
    case "oauth_failed":
      return "The service did not complete the sign-in (its token exchange failed), so nothing was connected. Try again; if it keeps failing, the server's operator should check its OAuth client settings.";
    case "forbidden":
      return "You may no longer change this chapter, so the library was not connected.";
    case "not_found":
      return "The chapter, or the connector to reconnect, no longer exists, so nothing was connected.";
    default:
      return `The sign-in did not complete (${code}), so nothing was connected. Connect again to retry.`;
  }
}

/** The notice after `?connector=<id>`: which service, and that its sync has started (a connector
 *  that has run before was reconnected). `connector` is undefined until the list loads. */
export function oauthConnectedText(connector: Connector | undefined): string {
  if (!connector) return "Library connected; the first sync is running.";
  const name = kindInfo(connector.kind)?.name ?? connector.kind;
  return connector.last_run_at
    ? `${name} reconnected; a sync is running.`
    : `${name} connected; the first sync is running.`;
}

export type ConnectorForm = Partial<Record<FieldName, string>>;

/** What a form sends, or why it cannot be sent yet (the server checks again, and its 422 is
 *  shown as it is). Empty optional fields are left out; values are trimmed, the key too. */
export function connectorBody(
  kind: ConnectorKind,
  form: ConnectorForm,
): { ok: true; body: ConnectorCreate } | { ok: false; error: string } {
  const info = kindInfo(kind);
  if (!info) return { ok: false, error: `Unknown kind ${kind}.` };
  const body: ConnectorCreate = { kind };
  for (const field of info.fields) {
    const value = (form[field.name] ?? "").trim();
    if (!value) {
      if (field.required) return { ok: false, error: `${field.label} is required.` };
      continue;
    }
    body[field.name] = value;
  }
  if (kind === "zotero" && body.library && !/^(users|groups)\/\d+$/.test(body.library)) {
    return { ok: false, error: "Library is users/<number> or groups/<number>, e.g. users/123456." };
  }
  return { ok: true, body };
}

export type StatusTone = "ok" | "busy" | "error" | "idle";

/** A connector's status as a person reads it, and its tone (colour); a refused credential reads
 *  as a refused sign-in for a kind connected by signing in. */
export function statusText(status: string, kind?: string): { text: string; tone: StatusTone } {
  switch (status) {
    case "ok":
      return { text: "synced", tone: "ok" };
    case "running":
      return { text: "syncing…", tone: "busy" };
    case "credential_rejected":
      return { text: kind && isOAuthKind(kind) ? "sign-in refused" : "key refused", tone: "error" };
    case "failed":
      return { text: "failed", tone: "error" };
    case "new":
      return { text: "not synced yet", tone: "idle" };
    default:
      return { text: status, tone: "idle" };
  }
}

/** "2 added, 1 removed" (what changed), "nothing changed", and the per-item error count. */
export function reportSummary(report: SyncReport | null | undefined): string {
  if (!report) return "";
  const parts = (["added", "revised", "retagged", "described", "removed", "rejected"] as const)
    .filter((k) => report[k] > 0)
    .map((k) => `${report[k]} ${k}`);
  const what = parts.length ? parts.join(", ") : "nothing changed";
  const errors = report.error_count ? ` · ${report.error_count} error${report.error_count === 1 ? "" : "s"}` : "";
  return `${report.listed} listed: ${what}${errors}`;
}

/** Where a connector reads from, in a line. */
export function connectorPlace(c: Connector): string {
  if (c.pushed) return "synced from a computer with the ragstack command line";
  if (c.kind === "google_drive") return !c.library || c.library === "root" ? "all of My Drive" : `folder ${c.library}`;
  if (c.kind === "dropbox") return c.library ? c.library : "all of the Dropbox";
  if (c.kind === "onedrive") return c.library ? `folder ${c.library}` : "all of the OneDrive";
  return [c.library, c.path, c.base_url].filter(Boolean).join(" · ");
}

/** The command that syncs a library the server does not reach itself. */
export function pushCommand(c: Connector): string {
  const option = c.kind === "obsidian" ? "--obsidian-vault ~/Vault" : "--zotero-dir ~/Zotero";
  return `ragstack sync ${c.chapter} --connector ${c.id} ${option}`;
}

/** How an answer names the work: "Smith (2020)", "Smith and Jones (2020)", "Smith et al.
 *  (2020)", "Smith (n.d.)"; the title when it has no author; "" for nothing. */
export function cite(meta: SourceMeta | null | undefined): string {
  if (!meta) return "";
  const surnames = (meta.authors ?? []).filter((a) => a.trim()).map((a) => (a.split(",", 1)[0] ?? "").trim());
  const who =
    surnames.length === 0
      ? meta.title ?? ""
      : surnames.length === 1
        ? (surnames[0] ?? "")
        : surnames.length === 2
          ? `${surnames[0]} and ${surnames[1]}`
          : `${surnames[0]} et al.`;
  if (!who) return "";
  return `${who} (${meta.year ?? "n.d."})`;
}

/** The doi.org address of a DOI (given bare, as `doi:…` or as an address already). */
export function doiUrl(doi: string): string {
  const bare = doi.trim().replace(/^(https?:\/\/(dx\.)?doi\.org\/|doi:)/i, "");
  return `https://doi.org/${bare.split("/").map(encodeURIComponent).join("/")}`;
}

/** The origin mark of a source ("Zotero", "Notion"…), or null for an upload or a web page. */
export function originLabel(origin: string | null | undefined): string | null {
  if (!origin || origin === "upload" || origin === "url") return null;
  return CONNECTOR_KINDS.find((k) => k.kind === origin)?.origin ?? origin.charAt(0).toUpperCase() + origin.slice(1);
}

/** A source's tags split into its library's collections and item types (shown as chips of
 *  their own) and the rest. */
export function referenceTags(tags: string[]): { collections: string[]; types: string[]; other: string[] } {
  const collections = tags.filter((t) => t.startsWith("collection:")).map((t) => t.slice("collection:".length));
  const types = tags.filter((t) => t.startsWith("type:")).map((t) => t.slice("type:".length));
  const other = tags.filter((t) => !t.startsWith("collection:") && !t.startsWith("type:"));
  return { collections, types, other };
}
