// The mark on a chapter someone shared into this book: a live mirror (it follows the owner's
// chapter, and leaves the book when the share ends) or a copy (the guest's own from then on).
import { Copy, Radio } from "lucide-react";
import type { Chapter } from "../api/types";
import { sharedKind } from "../lib/sharing";

export function SharedMark({ chapter }: { chapter: Pick<Chapter, "share" | "forked_from"> }) {
  const kind = sharedKind(chapter);
  if (kind === null) return null;
  return kind === "mirror" ? (
    <span className="badge badge-shared" title="Shared with this book: follows the owner's chapter; read-only here">
      <Radio size={12} aria-hidden /> shared · live
    </span>
  ) : (
    <span className="badge badge-shared" title="Shared with this book as a copy: yours from now on">
      <Copy size={12} aria-hidden /> shared · copy
    </span>
  );
}
