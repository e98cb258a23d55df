// One source: its facts, its extracted text (read, and edit), its tags (add, remove), the
// original to download, and delete. Every change is sent with the source's `rev` as read, so a
// change someone else made in between is refused (409 source_changed) rather than overwritten.
// A source from a connected library shows its reference: title, authors, year, DOI, its ref in
// the library, how answers cite it, and its collections and item type.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Download, FileText, Pencil, Plus, RotateCw, Trash2, X } from "lucide-react";
import { useState, type FormEvent } from "react";
import { Link, useNavigate, useParams } from "react-router";
import { adminKeys, readSource, updateSource } from "../api/admin";
import { deleteSource, keys, readChapter, readSourceText, sourceFileUrl } from "../api/endpoints";
import { describe } from "../api/http";
import type { Source } from "../api/types";
import { Button, ErrorState, Field, Loading, QueryView, formatBytes } from "../components/ui";
import { cite, doiUrl, originLabel, referenceTags } from "../lib/connectors";
import { addTags, isStale, removeTag, saveError, textStats } from "../lib/sourceEdit";

const POLL_MS = 1500;

export function SourceScreen() {
  const { chapter = "", source = "" } = useParams();
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const info = useQuery({
    queryKey: adminKeys.source(chapter, source),
    queryFn: () => readSource(chapter, source),
    // While it is being (re-)extracted, watch for the outcome.
    refetchInterval: (q) => (q.state.data?.status === "pending" ? POLL_MS : false),
  });
  const parent = useQuery({ queryKey: keys.chapter(chapter), queryFn: () => readChapter(chapter) });
  const extracted = info.data?.status === "extracted";
  const text = useQuery({
    queryKey: [...keys.sourceText(chapter, source), info.data?.rev],
    queryFn: () => readSourceText(chapter, source),
    enabled: extracted,
  });
  const remove = useMutation({
    mutationFn: () => deleteSource(chapter, source),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: keys.sources(chapter) });
      navigate(`/chapters/${chapter}`);
    },
  });
  const reload = () => {
    void queryClient.invalidateQueries({ queryKey: adminKeys.source(chapter, source) });
    void queryClient.invalidateQueries({ queryKey: keys.sourceText(chapter, source) });
  };

  const crumbs = (
    <nav aria-label="Breadcrumb" className="crumbs">
      <Link to="/books">Books</Link> / <Link to={`/chapters/${chapter}`}>{parent.data?.title ?? "Chapter"}</Link>
    </nav>
  );
  if (info.isPending) return <Loading label="Loading the source…" />;
  if (info.isError) {
    return (
      <section className="page">
        {crumbs}
        <ErrorState error={info.error} retry={() => void info.refetch()} />
      </section>
    );
  }
  const s = info.data;
  return (
    <section className="page stack">
      {crumbs}
      <h1>
        <FileText size={22} aria-hidden /> <span className="row-title">{s.name}</span>
      </h1>
      <Facts source={s} />
      <Reference source={s} />
      <div className="actions">
        <a className="btn" href={sourceFileUrl(chapter, source)} download={s.name}>
          <Download size={16} aria-hidden /> Download the original
        </a>
        {s.status !== "removed" && (
          <Button
            variant="danger"
            busy={remove.isPending}
            onClick={() => {
              if (window.confirm(`Delete “${s.name}” from this chapter? It leaves search at once; the chapter's history keeps it.`))
                remove.mutate();
            }}
          >
            <Trash2 size={16} aria-hidden /> Delete
          </Button>
        )}
      </div>
      {remove.isError && (
        <p className="error-text" role="alert">
          Could not delete: {describe(remove.error)}
        </p>
      )}
      {s.status !== "removed" && <Tags chapter={chapter} source={s} reload={reload} />}
      <section className="panel" aria-labelledby="text-title">
        <h2 id="text-title">Extracted text</h2>
        {s.status === "pending" ? (
          <Loading label="Being extracted… the text appears here when it is ready." />
        ) : s.status === "rejected" ? (
          <p className="reason">Not extracted: {s.reason ?? "this file could not be read."}</p>
        ) : s.status === "removed" ? (
          <p className="muted">This source was removed from the chapter.</p>
        ) : (
          <QueryView
            query={text}
            loading="Loading the text…"
            isEmpty={(t) => t.length === 0}
            empty="This source has no text."
          >
            {(t) => <TextEditor key={s.rev} chapter={chapter} source={s} text={t} reload={reload} />}
          </QueryView>
        )}
      </section>
    </section>
  );
}

function Facts({ source: s }: { source: Source }) {
  return (
    <dl className="facts">
      <dt>Status</dt>
      <dd>
        <span className={`badge status-${s.status}`}>{s.status}</span>
      </dd>
      <dt>Type</dt>
      <dd>{s.media_type}</dd>
      <dt>Size</dt>
      <dd>{formatBytes(s.size)}</dd>
      {s.url ? (
        <>
          <dt>From</dt>
          <dd>
            <a href={s.url} rel="noreferrer noopener" target="_blank">
              {s.url}
            </a>
          </dd>
        </>
      ) : (
        s.origin && (
          <>
            <dt>Origin</dt>
            <dd>{originLabel(s.origin) ?? s.origin}</dd>
          </>
        )
      )}
      {s.status === "extracted" && (
        <>
          <dt>Passages</dt>
          <dd>{s.chunks ?? 0}</dd>
        </>
      )}
      <dt>Revision</dt>
      <dd>{s.rev}</dd>
    </dl>
  );
}

/** What a connected library says of the work: only what it said (empty fields are left out). */
function Reference({ source: s }: { source: Source }) {
  const meta = s.meta;
  const { collections, types } = referenceTags(s.tags);
  const origin = originLabel(s.origin);
  const cited = cite(meta);
  if (!s.connector && !meta) return null;
  return (
    <section className="panel" aria-labelledby="reference-title">
      <h2 id="reference-title">{origin ? `Reference from ${origin}` : "Reference"}</h2>
      <dl className="facts">
        {meta?.title && (
          <>
            <dt>Title</dt>
            <dd>{meta.title}</dd>
          </>
        )}
        {meta && meta.authors.length > 0 && (
          <>
            <dt>Authors</dt>
            <dd>{meta.authors.join("; ")}</dd>
          </>
        )}
        {meta?.year != null && (
          <>
            <dt>Year</dt>
            <dd>{meta.year}</dd>
          </>
        )}
        {meta?.doi && (
          <>
            <dt>DOI</dt>
            <dd>
              <a href={doiUrl(meta.doi)} rel="noopener noreferrer" target="_blank">
                {meta.doi}
              </a>
            </dd>
          </>
        )}
        {cited && (
          <>
            <dt>Cited as</dt>
            <dd>{cited}</dd>
          </>
        )}
        {s.ref && (
          <>
            <dt>In the library</dt>
            <dd>
              <code>{s.ref}</code>
            </dd>
          </>
        )}
        {collections.length > 0 && (
          <>
            <dt>Collections</dt>
            <dd>
              <ul className="chips" aria-label="Collections">
                {collections.map((c) => (
                  <li key={c} className="tag">
                    {c}
                  </li>
                ))}
              </ul>
            </dd>
          </>
        )}
        {types.length > 0 && (
          <>
            <dt>Item type</dt>
            <dd>
              <ul className="chips" aria-label="Item type">
                {types.map((t) => (
                  <li key={t} className="tag">
                    {t}
                  </li>
                ))}
              </ul>
            </dd>
          </>
        )}
      </dl>
    </section>
  );
}

/** The error of a refused change, with a reload when the source changed meanwhile. */
function SaveError({ error, reload }: { error: unknown; reload: () => void }) {
  return (
    <div className="error-text" role="alert">
      <p>{saveError(error)}</p>
      {isStale(error) && (
        <Button onClick={reload}>
          <RotateCw size={16} aria-hidden /> Reload the source
        </Button>
      )}
    </div>
  );
}

function Tags({ chapter, source, reload }: { chapter: string; source: Source; reload: () => void }) {
  const queryClient = useQueryClient();
  const [typed, setTyped] = useState("");
  const [invalid, setInvalid] = useState<string | null>(null);
  const retag = useMutation({
    mutationFn: (tags: string[]) => updateSource(chapter, source.id, { tags, rev: source.rev }),
    onSuccess: (next) => {
      setTyped("");
      queryClient.setQueryData(adminKeys.source(chapter, source.id), next);
      void queryClient.invalidateQueries({ queryKey: keys.sources(chapter) });
    },
  });
  function onSubmit(event: FormEvent) {
    event.preventDefault();
    const made = addTags(source.tags, typed);
    setInvalid(made.ok ? null : made.error);
    if (made.ok) retag.mutate(made.tags);
  }
  return (
    <section className="panel" aria-labelledby="tags-title">
      <h2 id="tags-title">Tags</h2>
      {source.tags.length === 0 ? (
        <p className="muted">No tags yet. Tags let search and the sources list pick sources out.</p>
      ) : (
        <ul className="chips" aria-label="Tags">
          {source.tags.map((t) => (
            <li key={t} className="tag">
              {t}
              <button
                type="button"
                className="tag-remove"
                aria-label={`Remove the tag ${t}`}
                disabled={retag.isPending}
                onClick={() => retag.mutate(removeTag(source.tags, t))}
              >
                <X size={12} aria-hidden />
              </button>
            </li>
          ))}
        </ul>
      )}
      <form className="inline-form" onSubmit={onSubmit}>
        <Field
          label="Add tags"
          placeholder="papers, 2024"
          value={typed}
          onChange={(e) => {
            setTyped(e.target.value);
            setInvalid(null);
          }}
        />
        <Button type="submit" busy={retag.isPending} disabled={!typed.trim()}>
          <Plus size={16} aria-hidden /> Add
        </Button>
      </form>
      {invalid && (
        <p className="error-text" role="alert">
          {invalid}
        </p>
      )}
      {retag.isError && <SaveError error={retag.error} reload={reload} />}
    </section>
  );
}

function TextEditor({
  chapter,
  source,
  text,
  reload,
}: {
  chapter: string;
  source: Source;
  text: string;
  reload: () => void;
}) {
  const queryClient = useQueryClient();
  const [draft, setDraft] = useState<string | null>(null);
  const save = useMutation({
    mutationFn: (next: string) => updateSource(chapter, source.id, { text: next, rev: source.rev }),
    onSuccess: (next) => {
      setDraft(null);
      // Pending again: ingest re-cuts the text; the screen polls until it is extracted.
      queryClient.setQueryData(adminKeys.source(chapter, source.id), next);
      void queryClient.invalidateQueries({ queryKey: keys.sources(chapter) });
    },
  });
  if (draft === null) {
    return (
      <>
        <div className="actions">
          <Button onClick={() => setDraft(text)}>
            <Pencil size={16} aria-hidden /> Edit the text
          </Button>
          <span className="muted small">{textStats(text)}</span>
        </div>
        <pre className="source-text" tabIndex={0} aria-label={`Text of ${source.name}`}>
          {text}
        </pre>
      </>
    );
  }
  const changed = draft !== text;
  return (
    <form
      className="stack"
      onSubmit={(e) => {
        e.preventDefault();
        if (changed && draft.trim()) save.mutate(draft);
      }}
    >
      <label htmlFor="source-text-editor">Corrected text</label>
      <textarea
        id="source-text-editor"
        className="source-editor"
        value={draft}
        rows={20}
        onChange={(e) => setDraft(e.target.value)}
        aria-describedby="source-text-help"
      />
      <p id="source-text-help" className="muted small">
        {textStats(draft)}. Saving records the change in the chapter's history and re-cuts the
        text into passages for search.
      </p>
      {!draft.trim() && (
        <p className="error-text" role="alert">
          The text cannot be empty; to take the source out, delete it.
        </p>
      )}
      {save.isError && <SaveError error={save.error} reload={() => { setDraft(null); reload(); }} />}
      <div className="actions">
        <Button type="submit" variant="primary" busy={save.isPending} disabled={!changed || !draft.trim()}>
          Save
        </Button>
        <Button variant="ghost" onClick={() => setDraft(null)} disabled={save.isPending}>
          Cancel
        </Button>
      </div>
    </form>
  );
}
