// Search a chapter's passages, optionally only in sources with given tags.
import { useMutation } from "@tanstack/react-query";
import { Search as SearchIcon } from "lucide-react";
import { useState, type FormEvent } from "react";
import { search } from "../api/endpoints";
import { Button, Empty, ErrorState, Field, Loading } from "../components/ui";
import type { PassageTarget } from "./Passage";

export function SearchPanel({ chapter, open }: { chapter: string; open: (t: PassageTarget) => void }) {
  const [query, setQuery] = useState("");
  const [tags, setTags] = useState("");
  const run = useMutation({
    mutationFn: () =>
      search(
        chapter,
        query.trim(),
        tags.split(",").map((t) => t.trim()).filter(Boolean),
      ),
  });
  function onSubmit(event: FormEvent) {
    event.preventDefault();
    if (query.trim()) run.mutate();
  }
  return (
    <section className="panel" aria-labelledby="search-title">
      <h2 id="search-title">Search</h2>
      <form className="inline-form" onSubmit={onSubmit} role="search">
        <Field label="Search the chapter" value={query} onChange={(e) => setQuery(e.target.value)} />
        <Field label="Only tags" placeholder="any" value={tags} onChange={(e) => setTags(e.target.value)} />
        <Button type="submit" variant="primary" busy={run.isPending} disabled={!query.trim()}>
          <SearchIcon size={16} aria-hidden /> Search
        </Button>
      </form>
      {run.isPending && <Loading label="Searching…" />}
      {run.isError && <ErrorState error={run.error} retry={() => run.mutate()} />}
      {run.isSuccess &&
        (run.data.hits.length === 0 ? (
          <Empty>No passage matches. Try other words, or wait for pending sources.</Empty>
        ) : (
          <ol className="hits" aria-label="Results">
            {run.data.hits.map((hit) => (
              <li key={`${hit.source}:${hit.chunk}`}>
                <button
                  type="button"
                  className="hit"
                  onClick={() => open({ source: hit.source, name: hit.source_name, span: hit.span })}
                >
                  <span className="hit-head">
                    <strong>{hit.source_name}</strong>
                    {hit.cite && <span className="hit-cite"> · {hit.cite}</span>}
                    {hit.span.page != null && <span className="muted"> · page {hit.span.page}</span>}
                    <span className="muted"> · {hit.score.toFixed(2)}</span>
                  </span>
                  <span className="hit-text">{hit.text}</span>
                </button>
              </li>
            ))}
          </ol>
        ))}
    </section>
  );
}
