// A chapter's connected libraries: each connector's kind, status, last run, last report and
// per-item errors; add one (the key field is write-only: sent once, never shown again; Google
// Drive, Dropbox and OneDrive by signing in at the service, the browser leaving for its page and
// coming back to the chapter); sync now with live progress (the connector's status polled, the
// sources it has brought in counted from the sources list the change feed keeps fresh); reconnect
// one whose sign-in was refused; remove one. The kinds and their fields come from one table
// (lib/connectors.ts).
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { KeyRound, Library, LogIn, Plus, RefreshCw, Trash2 } from "lucide-react";
import { useEffect, useId, useRef, useState, type FormEvent } from "react";
import {
  connectorKeys,
  createConnector,
  deleteConnector,
  listConnectors,
  listOAuthProviders,
  startOAuth,
  syncConnector,
  type Connector,
  type ConnectorCreate,
  type OAuthProviderName,
  type OAuthStart,
} from "../api/connectors";
import { keys, listSources } from "../api/endpoints";
import { describe } from "../api/http";
import { Button, Field, QueryView } from "../components/ui";
import { ago } from "../lib/admin";
import {
  availability,
  CONNECTOR_KINDS,
  connectorBody,
  connectorPlace,
  isOAuthKind,
  kindInfo,
  oauthStartBody,
  pushCommand,
  reportSummary,
  statusText,
  unconfiguredText,
  type ConnectorForm,
  type KindId,
} from "../lib/connectors";

const POLL_MS = 1000;

/** Begin a sign-in and send the browser (this tab) to the service's page; the mutation stays
 *  pending while the page unloads, so its button keeps spinning. */
function useSignIn(chapter: string) {
  const signIn = useMutation({
    mutationFn: async ({ provider, body }: { provider: OAuthProviderName; body: OAuthStart }) => {
      const started = await startOAuth(chapter, provider, body);
      window.location.assign(started.authorize_url);
      await new Promise(() => {}); // never settles: the page is leaving
    },
  });
  // Back from the service's page without signing in, the browser may show this page as it was
  // left (its back/forward cache), button still spinning: it is idle again.
  const { reset } = signIn;
  useEffect(() => {
    const shown = (event: PageTransitionEvent) => {
      if (event.persisted) reset();
    };
    window.addEventListener("pageshow", shown);
    return () => window.removeEventListener("pageshow", shown);
  }, [reset]);
  return signIn;
}

/** `autoSync`: a connector to sync once, as soon as it is listed (the one a sign-in has just
 *  made or reconnected: the server's callback makes it without syncing); `onAutoSynced` is told
 *  when that sync has begun, so it is not begun again. */
export function ConnectorsPanel({
  chapter,
  autoSync,
  onAutoSynced,
}: {
  chapter: string;
  autoSync?: string | null;
  onAutoSynced?: () => void;
}) {
  const queryClient = useQueryClient();
  const [syncing, setSyncing] = useState<Set<string>>(new Set());
  const connectors = useQuery({
    queryKey: connectorKeys.list(chapter),
    queryFn: () => listConnectors(chapter),
    // While a sync runs (ours, or one the server's schedule started), follow its status.
    refetchInterval: (q) =>
      syncing.size > 0 || q.state.data?.some((c) => c.status === "running") ? POLL_MS : false,
  });
  // The sources each connector brought in, counted live (the change feed refreshes this list).
  const sources = useQuery({
    queryKey: keys.sources(chapter),
    queryFn: () => listSources(chapter),
    refetchInterval: syncing.size > 0 ? POLL_MS : false,
  });
  const counts = new Map<string, number>();
  for (const s of sources.data ?? []) {
    if (s.connector && s.status !== "removed") counts.set(s.connector, (counts.get(s.connector) ?? 0) + 1);
  }
  const refresh = () => {
    void queryClient.invalidateQueries({ queryKey: connectorKeys.list(chapter) });
    void queryClient.invalidateQueries({ queryKey: keys.sources(chapter) });
  };
  const mark = (id: string, on: boolean) =>
    setSyncing((now) => {
      const next = new Set(now);
      if (on) next.add(id);
      else next.delete(id);
      return next;
    });

  return (
    <section className="panel" aria-labelledby="connectors-title">
      <h2 id="connectors-title">
        <Library size={18} aria-hidden /> Connected libraries
      </h2>
      <p className="muted small">
        A connected library keeps this chapter in step with Zotero, Notion, Confluence, Google
        Drive, Dropbox, OneDrive or a folder: what is added, changed or deleted there follows here
        at each sync.
      </p>
      <QueryView
        query={connectors}
        loading="Loading the connected libraries…"
        isEmpty={(list) => list.length === 0}
        empty="No library is connected yet. Add one below."
      >
        {(list) => (
          <ul className="connectors" aria-label="Connected libraries">
            {list.map((c) => (
              <ConnectorRow
                key={c.id}
                chapter={chapter}
                connector={c}
                sources={counts.get(c.id) ?? 0}
                autoSync={c.id === autoSync}
                onAutoSynced={onAutoSynced}
                onSync={(on) => mark(c.id, on)}
                refresh={refresh}
              />
            ))}
          </ul>
        )}
      </QueryView>
      <AddConnector chapter={chapter} added={refresh} />
    </section>
  );
}

function ConnectorRow({
  chapter,
  connector: c,
  sources,
  autoSync,
  onAutoSynced,
  onSync,
  refresh,
}: {
  chapter: string;
  connector: Connector;
  sources: number;
  autoSync: boolean;
  onAutoSynced?: () => void;
  onSync: (running: boolean) => void;
  refresh: () => void;
}) {
  const queryClient = useQueryClient();
  const info = kindInfo(c.kind);
  const name = info?.name ?? c.kind;
  const sync = useMutation({
    mutationFn: () => syncConnector(chapter, c.id),
    onMutate: () => onSync(true),
    onSettled: () => {
      onSync(false);
      refresh();
    },
  });
  // Once per row, even when React runs the effect twice (a ref outlives StrictMode's re-run): a
  // second sync would be refused as busy.
  const autoSynced = useRef(false);
  useEffect(() => {
    if (!autoSync || autoSynced.current) return;
    autoSynced.current = true;
    sync.mutate();
    onAutoSynced?.();
  }, [autoSync, sync, onAutoSynced]);
  const connect = info?.connect;
  const reconnect = useSignIn(chapter);
  const remove = useMutation({
    mutationFn: () => deleteConnector(chapter, c.id),
    onSuccess: () =>
      queryClient.setQueryData<Connector[]>(connectorKeys.list(chapter), (list) =>
        list?.filter((x) => x.id !== c.id),
      ),
  });
  const running = sync.isPending || c.status === "running";
  const status = running ? statusText("running") : statusText(c.status, c.kind);
  const refused = !running && c.status === "credential_rejected";
  const report = c.report;
  return (
    <li className="connector" aria-label={`${name} ${connectorPlace(c)}`}>
      <div className="connector-head">
        <strong>{name}</strong>
        <span className={`badge tone-${status.tone}`} data-status={running ? "running" : c.status}>
          {status.text}
        </span>
      </div>
      <p className="muted small connector-place">{connectorPlace(c)}</p>
      {running ? (
        <p className="small" role="status">
          Syncing… {sources} source{sources === 1 ? "" : "s"} from this library in the chapter so far.
        </p>
      ) : (
        <p className="small">
          {c.last_run_at ? `Last run ${ago(c.last_run_at, Date.now())}` : "Never synced"}
          {report ? ` · ${reportSummary(report)}` : ""} · {sources} source{sources === 1 ? "" : "s"}
        </p>
      )}
      {!running && c.last_error && (
        <p className="error-text" role="alert">
          {c.last_error}
        </p>
      )}
      {refused && connect && (
        <p className="small">
          Sign in to {name} again with Reconnect: the new sign-in replaces the refused one, and the
          sources this library brought in stay.
        </p>
      )}
      {reconnect.isError && (
        <p className="error-text" role="alert">
          Could not reconnect: {describe(reconnect.error)}
        </p>
      )}
      {sync.isError && !c.last_error && (
        <p className="error-text" role="alert">
          {describe(sync.error)}
        </p>
      )}
      {report && report.errors.length > 0 && (
        <details className="connector-errors">
          <summary>
            {report.error_count} item{report.error_count === 1 ? "" : "s"} not brought in
          </summary>
          <ul>
            {report.errors.map((e) => (
              <li key={`${e.ref}:${e.code}`}>
                <code>{e.ref}</code>: {e.message}
              </li>
            ))}
          </ul>
          {report.error_count > report.errors.length && (
            <p className="muted small">The first {report.errors.length} are listed.</p>
          )}
        </details>
      )}
      {c.pushed && (
        <p className="muted small">
          Synced from a computer: <code>{pushCommand(c)}</code>
        </p>
      )}
      {remove.isError && (
        <p className="error-text" role="alert">
          Could not remove: {describe(remove.error)}
        </p>
      )}
      <div className="actions">
        {connect && (
          <Button
            variant={refused ? "primary" : "secondary"}
            busy={reconnect.isPending}
            disabled={running}
            aria-label={`Reconnect ${name}`}
            onClick={() => reconnect.mutate({ provider: connect.provider, body: { connector: c.id } })}
          >
            <KeyRound size={16} aria-hidden /> Reconnect
          </Button>
        )}
        {!c.pushed && (
          <Button onClick={() => sync.mutate()} busy={running} aria-label={`Sync now: ${name}`}>
            <RefreshCw size={16} aria-hidden /> Sync now
          </Button>
        )}
        <Button
          variant="ghost"
          busy={remove.isPending}
          disabled={running}
          aria-label={`Remove ${name}`}
          onClick={() => {
            if (window.confirm(`Remove this ${name} connector? The sources it brought in stay in the chapter.`))
              remove.mutate();
          }}
        >
          <Trash2 size={16} aria-hidden /> Remove
        </Button>
      </div>
    </li>
  );
}

function AddConnector({ chapter, added }: { chapter: string; added: () => void }) {
  const [kind, setKind] = useState<KindId>("zotero");
  const [form, setForm] = useState<ConnectorForm>({});
  const [invalid, setInvalid] = useState<string | null>(null);
  const kindId = useId();
  const info = kindInfo(kind);
  // Which sign-ins the operator has set up: a kind whose provider is not stays in the picker,
  // marked, with its button off and the reason beside it.
  const providers = useQuery({ queryKey: connectorKeys.providers, queryFn: listOAuthProviders, staleTime: 60_000 });
  const create = useMutation({
    mutationFn: (body: ConnectorCreate) => createConnector(chapter, body),
    onSuccess: () => {
      setForm({}); // the key leaves the page with the form
      added();
    },
  });
  const signIn = useSignIn(chapter);
  const connect = info?.connect;
  const offered = info ? availability(info, providers.data) : "unknown";
  function onSubmit(event: FormEvent) {
    event.preventDefault();
    if (connect && isOAuthKind(kind)) {
      const made = oauthStartBody(kind, form);
      setInvalid(made.ok ? null : made.error);
      if (made.ok) signIn.mutate({ provider: connect.provider, body: made.body });
      return;
    }
    if (isOAuthKind(kind)) return;
    const made = connectorBody(kind, form);
    setInvalid(made.ok ? null : made.error);
    if (made.ok) create.mutate(made.body);
  }
  const failed =
    invalid ?? (create.isError ? describe(create.error) : signIn.isError ? describe(signIn.error) : null);
  return (
    <form className="stack connector-form" onSubmit={onSubmit} aria-label="Connect a library">
      <h3>Connect a library</h3>
      <div className="field">
        <label htmlFor={kindId}>Kind</label>
        <select
          id={kindId}
          value={kind}
          onChange={(e) => {
            setKind(e.target.value as KindId);
            setForm({});
            setInvalid(null);
            create.reset();
            signIn.reset();
          }}
        >
          {CONNECTOR_KINDS.map((k) => (
            <option key={k.kind} value={k.kind}>
              {k.label}
              {availability(k, providers.data) === "unconfigured" ? " (not set up on this server)" : ""}
            </option>
          ))}
        </select>
      </div>
      {connect && offered === "unconfigured" ? (
        <p className="notice" role="note">
          {info && unconfiguredText(info)}
        </p>
      ) : (
        info?.fields.map((f) => (
          <Field
            key={`${kind}:${f.name}`}
            label={f.label}
            type={f.type}
            required={f.required}
            placeholder={f.placeholder}
            hint={f.hint}
            autoComplete={f.type === "password" ? "new-password" : "off"}
            value={form[f.name] ?? ""}
            maxLength={f.name === "path" ? 4096 : f.name === "api_key" ? 512 : 2000}
            onChange={(e) => {
              setInvalid(null);
              setForm((now) => ({ ...now, [f.name]: e.target.value }));
            }}
          />
        ))
      )}
      {connect && offered !== "unconfigured" && (
        <p className="muted small">
          You sign in on {info?.name}&apos;s own page, which then sends you back here. The access
          asked for is read-only.
        </p>
      )}
      {failed && (
        <p className="error-text" role="alert">
          {failed}
        </p>
      )}
      {create.isSuccess && !failed && (
        <p className="muted small" role="status">
          Connected. Sync it now to bring its items in.
        </p>
      )}
      <div className="actions">
        {connect ? (
          <Button type="submit" variant="primary" busy={signIn.isPending} disabled={offered === "unconfigured"}>
            <LogIn size={16} aria-hidden /> {connect.button}
          </Button>
        ) : (
          <Button type="submit" variant="primary" busy={create.isPending}>
            <Plus size={16} aria-hidden /> Connect
          </Button>
        )}
      </div>
    </form>
  );
}
