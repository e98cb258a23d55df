// A chapter's sources: live status, drag-and-drop upload with per-file progress, add a web page,
// filter by tag, delete, open the text. A source from a connected library shows how it is cited
// ("Smith et al. (2020)") and where it came from (Zotero, Notion…).
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { CheckCircle2, Clock, FileText, Info, Link2, RotateCw, Trash2, Upload, X, XCircle } from "lucide-react";
import { Link } from "react-router";
import { useMemo, useRef, useState, type DragEvent, type FormEvent } from "react";
import { addUrl, deleteSource, keys, listSources } from "../api/endpoints";
import { describe } from "../api/http";
import type { Source, SourceStatus } from "../api/types";
import { Button, Field, IconButton, QueryView, formatBytes } from "../components/ui";
import { VirtualList } from "../components/VirtualList";
import { cite, originLabel } from "../lib/connectors";
import type { FeedMode } from "./useChangeFeed";
import type { PassageTarget } from "./Passage";
import { useUploads } from "./useUploads";

const POLL_MS = 2000;

function StatusBadge({ status }: { status: SourceStatus }) {
  const Icon =
    status === "extracted" ? CheckCircle2 : status === "rejected" ? XCircle : Clock;
  return (
    <span className={`badge status-${status}`}>
      <Icon size={12} aria-hidden /> {status}
    </span>
  );
}

export function SourcesPanel({
  chapter,
  feed,
  open,
}: {
  chapter: string;
  feed: FeedMode;
  open: (target: PassageTarget) => void;
}) {
  const queryClient = useQueryClient();
  const [tag, setTag] = useState<string | null>(null);
  const sources = useQuery({
    queryKey: keys.sources(chapter),
    queryFn: () => listSources(chapter),
    // Without a change feed, poll while anything is still being extracted.
    refetchInterval: (query) =>
      feed !== "live" && query.state.data?.some((s) => s.status === "pending") ? POLL_MS : false,
  });
  const tags = useMemo(
    () => [...new Set((sources.data ?? []).flatMap((s) => s.tags))].sort(),
    [sources.data],
  );
  const shown = (sources.data ?? []).filter((s) => tag === null || s.tags.includes(tag));
  const remove = useMutation({
    mutationFn: (source: string) => deleteSource(chapter, source),
    onSettled: () => void queryClient.invalidateQueries({ queryKey: keys.sources(chapter) }),
  });

  return (
    <section className="panel" aria-labelledby="sources-title">
      <div className="panel-head">
        <h2 id="sources-title">Sources</h2>
        <span className={`feed feed-${feed}`} role="status">
          {feed === "live" ? "live" : feed === "polling" ? "refreshing" : "connecting"}
        </span>
      </div>
      <UploadBox chapter={chapter} />
      <UrlForm chapter={chapter} />
      {tags.length > 0 && (
        <div className="chips" role="group" aria-label="Filter by tag">
          <button type="button" className="chip" aria-pressed={tag === null} onClick={() => setTag(null)}>
            all
          </button>
          {tags.map((t) => (
            <button key={t} type="button" className="chip" aria-pressed={tag === t} onClick={() => setTag(t)}>
              {t}
            </button>
          ))}
        </div>
      )}
      {remove.isError && (
        <p className="error-text" role="alert">
          Could not delete: {describe(remove.error)}
        </p>
      )}
      <QueryView
        query={sources}
        loading="Loading sources…"
        isEmpty={(list) => list.length === 0}
        empty="No sources yet. Drop files above or add a web page."
      >
        {() =>
          shown.length === 0 ? (
            <p className="muted">No source has the tag “{tag}”.</p>
          ) : (
            <VirtualList items={shown} label="Sources" getKey={(s) => s.id} estimateSize={64} className="sources">
              {(source) => (
                <SourceRow
                  source={source}
                  open={open}
                  remove={() => {
                    if (window.confirm(`Delete “${source.name}” from this chapter?`))
                      remove.mutate(source.id);
                  }}
                  removing={remove.isPending && remove.variables === source.id}
                />
              )}
            </VirtualList>
          )
        }
      </QueryView>
    </section>
  );
}

function SourceRow({
  source,
  open,
  remove,
  removing,
}: {
  source: Source;
  open: (target: PassageTarget) => void;
  remove: () => void;
  removing: boolean;
}) {
  const cited = cite(source.meta);
  const origin = originLabel(source.origin);
  return (
    <div className="source">
      <FileText size={18} aria-hidden className="source-icon" />
      <div className="source-main">
        {source.status === "extracted" ? (
          <button type="button" className="link" onClick={() => open({ source: source.id, name: source.name })}>
            {source.name}
          </button>
        ) : (
          <span>{source.name}</span>
        )}
        {cited && <div className="source-cite">{cited}</div>}
        <div className="source-meta">
          {origin && (
            <span className="badge origin" title={`From ${origin}`}>
              {origin}
            </span>
          )}
          <StatusBadge status={source.status} />
          <span className="muted">{formatBytes(source.size)}</span>
          {source.tags.map((t) => (
            <span key={t} className="tag">
              {t}
            </span>
          ))}
        </div>
        {source.status === "rejected" && source.reason && (
          <p className="reason">{source.reason}</p>
        )}
      </div>
      <Link
        className="btn btn-icon"
        to={`sources/${source.id}`}
        aria-label={`Details of ${source.name}`}
        title="Details: text, tags, download"
      >
        <Info size={16} aria-hidden />
      </Link>
      <IconButton label={`Delete ${source.name}`} onClick={remove} disabled={removing}>
        <Trash2 size={16} aria-hidden />
      </IconButton>
    </div>
  );
}

function parseTags(text: string): string[] {
  return text.split(",").map((t) => t.trim()).filter(Boolean);
}

function UploadBox({ chapter }: { chapter: string }) {
  const uploads = useUploads(chapter);
  const input = useRef<HTMLInputElement>(null);
  const [over, setOver] = useState(false);
  const [tags, setTags] = useState("");

  function onDrop(event: DragEvent) {
    event.preventDefault();
    setOver(false);
    const files = [...event.dataTransfer.files];
    if (files.length) uploads.add(files, parseTags(tags));
  }

  return (
    <div className="upload">
      <div
        className={`dropzone ${over ? "dropzone-over" : ""}`}
        onDragOver={(e) => {
          e.preventDefault();
          setOver(true);
        }}
        onDragLeave={() => setOver(false)}
        onDrop={onDrop}
      >
        <Upload size={20} aria-hidden />
        <span>Drop files here, or</span>
        <Button onClick={() => input.current?.click()}>Choose files</Button>
        <input
          ref={input}
          type="file"
          multiple
          hidden
          aria-label="Files to upload"
          onChange={(e) => {
            const files = [...(e.target.files ?? [])];
            if (files.length) uploads.add(files, parseTags(tags));
            e.target.value = "";
          }}
        />
      </div>
      <Field
        label="Tags for new sources"
        placeholder="papers, 2024"
        value={tags}
        onChange={(e) => setTags(e.target.value)}
      />
      {uploads.items.length > 0 && (
        <ul className="uploads" aria-label="Uploads">
          {uploads.items.map((item) => (
            <li key={item.id} className={`upload-item upload-${item.status}`}>
              <span className="upload-name">{item.name}</span>
              <progress
                max={item.total || 1}
                value={item.loaded}
                aria-label={`Upload of ${item.name}`}
              />
              <span className="muted upload-state">
                {item.status === "uploading"
                  ? `${Math.round((100 * item.loaded) / (item.total || 1))}%`
                  : item.status}
              </span>
              {item.status === "failed" && (
                <IconButton label={`Retry ${item.name}`} onClick={() => uploads.retry(item.id)}>
                  <RotateCw size={14} aria-hidden />
                </IconButton>
              )}
              {(item.status === "queued" || item.status === "uploading" || item.status === "failed") && (
                <IconButton label={`Cancel ${item.name}`} onClick={() => uploads.cancel(item.id)}>
                  <X size={14} aria-hidden />
                </IconButton>
              )}
              {item.error && <p className="reason">{item.error}</p>}
            </li>
          ))}
        </ul>
      )}
      {uploads.items.some((i) => i.status === "done" || i.status === "cancelled") && (
        <Button variant="ghost" onClick={uploads.clear}>
          Clear finished uploads
        </Button>
      )}
    </div>
  );
}

function UrlForm({ chapter }: { chapter: string }) {
  const queryClient = useQueryClient();
  const [url, setUrl] = useState("");
  const add = useMutation({
    mutationFn: () => addUrl(chapter, url.trim(), []),
    onSuccess: () => {
      setUrl("");
      void queryClient.invalidateQueries({ queryKey: keys.sources(chapter) });
    },
  });
  function onSubmit(event: FormEvent) {
    event.preventDefault();
    if (url.trim()) add.mutate();
  }
  return (
    <form className="inline-form" onSubmit={onSubmit}>
      <Field
        label="Add a web page"
        type="url"
        placeholder="https://…"
        value={url}
        onChange={(e) => setUrl(e.target.value)}
      />
      <Button type="submit" busy={add.isPending} disabled={!url.trim()}>
        <Link2 size={16} aria-hidden /> Add
      </Button>
      {add.isError && (
        <p className="error-text" role="alert">
          {describe(add.error)}
        </p>
      )}
    </form>
  );
}
