// A cited passage in its source: the extracted text with the span highlighted and scrolled into
// view, its page or heading named, and the original to download.
import { useQuery } from "@tanstack/react-query";
import { Download } from "lucide-react";
import { useEffect, useRef } from "react";
import { keys, readSourceText, sourceFileUrl } from "../api/endpoints";
import type { Span } from "../api/types";
import { Dialog, QueryView } from "../components/ui";
import { highlight } from "../lib/spans";

export interface PassageTarget {
  source: string;
  name: string;
  span?: Span;
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
  const mark = useRef<HTMLElement>(null);
  useEffect(() => {
    mark.current?.scrollIntoView?.({ block: "center" });
  }, [text.data]);
  const span = target.span;
  const where = [span?.page ? `page ${span.page}` : null, span?.heading ? `“${span.heading}”` : null]
    .filter(Boolean)
    .join(", ");
  return (
    <div className="passage">
      <div className="passage-meta">
        {where && <span className="muted">Cited passage: {where}</span>}
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
          <pre className="source-text" tabIndex={0} aria-label="Source text">
            {(span ? highlight(t, span.start, span.end) : [{ text: t, marked: false }]).map((part, i) =>
              part.marked ? (
                <mark key={i} ref={mark}>
                  {part.text}
                </mark>
              ) : (
                <span key={i}>{part.text}</span>
              ),
            )}
          </pre>
        )}
      </QueryView>
    </div>
  );
}
