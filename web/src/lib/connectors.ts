// The rules of the connected-libraries panel and of a source's reference metadata, without React:
// the kinds the server takes and the fields each asks for (one table: a later kind that signs in
// with OAuth adds a row with `connect` and the panel shows its "Connect with …" button instead of
// fields), what a filled form sends (the key is write-only: sent once, never shown again), how a
// connector's status and last report read, and how a work is cited ("Smith et al. (2020)", the
// same rule as events.SourceMeta.cite on the server).
import type { Connector, ConnectorCreate, ConnectorKind, SourceMeta, SyncReport } from "../api/connectors";

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

export interface KindInfo {
  kind: ConnectorKind;
  /** What the kind picker shows. */
  label: string;
  /** What a connector of the kind is called in the list. */
  name: string;
  /** What a source from it is marked with in the sources list. */
  origin: string;
  fields: KindField[];
  /** An OAuth kind's button ("Connect with Google Drive"); none is built yet. */
  connect?: string;
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

/** A connector's status as a person reads it, and its tone (colour). */
export function statusText(status: string): { text: string; tone: StatusTone } {
  switch (status) {
    case "ok":
      return { text: "synced", tone: "ok" };
    case "running":
      return { text: "syncing…", tone: "busy" };
    case "credential_rejected":
      return { text: "key refused", tone: "error" };
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
