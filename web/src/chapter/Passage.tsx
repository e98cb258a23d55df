// A cited passage in its source: the extracted text with the span highlighted and scrolled into
// view, its page or heading named, the work cited as "Author (Year)" when its source came from a
// reference library, and the original to download.
import { useQuery } from "@tanstack/react-query";
import { Download, Info } from "lucide-react";
import { Link } from "react-router";
import { useEffect, useRef } from "react";
import { keys, listSources, readSourceText, sourceFileUrl } from "../api/endpoints";
import type { Span } from "../api/types";
import { Dialog, QueryView } from "../components/ui";
import { cite } from "../lib/connectors";
import { locatePassage } from "../lib/passage";

export interface PassageTarget {
  source: string;
  name: string;
  span?: Span;
  /** The passage's words as the answer cited them (to find it again if the source changed). */
  quote?: string;
}

export function PassageDialog({
  chapter,
  target,
  onClose,
}: {
  chapter: string;
  target: PassageTarget | null;
  onClose: () => void;
}) {
  return (
    <Dialog title={target?.name ?? "Source"} open={target !== null} onClose={onClose} wide>
      {target && <PassageBody chapter={chapter} target={target} />}
    </Dialog>
  );
}

function PassageBody({ chapter, target }: { chapter: string; target: PassageTarget }) {
  const text = useQuery({
    queryKey: keys.sourceText(chapter, target.source),
    queryFn: () => readSourceText(chapter, target.source),
  });
  // The chapter's sources are cached already (the sources panel reads them): their metadata
  // names the work.
  const sources = useQuery({ queryKey: keys.sources(chapter), queryFn: () => listSources(chapter) });
  const cited = cite(sources.data?.find((s) => s.id === target.source)?.meta);
  const mark = useRef<HTMLElement>(null);
  useEffect(() => {
    mark.current?.scrollIntoView?.({ block: "center" });
  }, [text.data]);
  const span = target.span;
  const where = [span?.page ? `page ${span.page}` : null, span?.heading ? `“${span.heading}”` : null]
    .filter(Boolean)
    .join(", ");
  const located = span && text.data !== undefined ? locatePassage(text.data, span, target.quote) : null;
  return (
    <div className="passage">
      <div className="passage-meta">
        {cited && <strong className="passage-cite">{cited}</strong>}
        {span && (
          <span className="muted">
            {where ? `Cited passage: ${where}` : "The cited passage is highlighted."}
          </span>
        )}
        <Link className="btn btn-ghost" to={`/chapters/${chapter}/sources/${target.source}`}>
          <Info size={16} aria-hidden /> Details
        </Link>
        <a className="btn btn-ghost" href={sourceFileUrl(chapter, target.source)} download>
          <Download size={16} aria-hidden /> Original
        </a>
      </div>
      <QueryView
        query={text}
        loading="Loading the text…"
        isEmpty={(t) => t.length === 0}
        empty="This source has no text."
      >
        {(t) => (
          <>
            {located?.where === "moved" && (
              <p className="notice small" role="status">
                The source was edited after this answer: the passage is highlighted where it is now.
              </p>
            )}
            {located?.where === "gone" && (
              <div className="notice small" role="status">
                <p>The source was edited after this answer and no longer holds the passage it cited:</p>
                <blockquote className="quote">{target.quote}</blockquote>
              </div>
            )}
            <pre className="source-text" tabIndex={0} aria-label="Source text">
              {located && located.where !== "gone" ? (
                <>
                  {t.slice(0, located.from)}
                  <mark ref={mark}>{t.slice(located.from, located.to)}</mark>
                  {t.slice(located.to)}
                </>
              ) : (
                t
              )}
            </pre>
          </>
        )}
      </QueryView>
    </div>
  );
}
