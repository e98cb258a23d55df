// A book's sharing policy: whether its chapters may be shared with people outside it. Turning it
// off stops every such share at once, so that asks for confirmation.
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { Globe2 } from "lucide-react";
import { useState } from "react";
import { setExternalSharing } from "../api/admin";
import { keys } from "../api/endpoints";
import { describe } from "../api/http";
import type { Book } from "../api/types";
import { manages } from "../lib/admin";

export function PolicySection({ book }: { book: Book }) {
  const queryClient = useQueryClient();
  // The switch shows the choice at once and keeps showing it until the book as saved replaces
  // it: deriving it from the mutation alone flipped it back for a moment after the click (before
  // the mutation was pending) and after the save (before the book was read again).
  const [chosen, setChosen] = useState<boolean | null>(null);
  const change = useMutation({
    mutationFn: (on: boolean): Promise<Book> => setExternalSharing(book.id, on),
    onSuccess: (saved) => {
      queryClient.setQueryData(keys.book(book.id), saved);
      void queryClient.invalidateQueries({ queryKey: keys.books });
    },
    onSettled: () => setChosen(null),
  });
  const may = manages(book.role);
  const on = chosen ?? book.external_sharing;
  return (
    <section className="panel" aria-labelledby="policy-title">
      <h2 id="policy-title">
        <Globe2 size={18} aria-hidden /> Sharing
      </h2>
      <label className="switch">
        <input
          type="checkbox"
          role="switch"
          checked={on}
          disabled={!may || change.isPending}
          aria-describedby="policy-hint"
          onChange={(e) => {
            const next = e.target.checked;
            if (
              next ||
              window.confirm(
                "Turn external sharing off? Every share of this book's chapters with someone outside it stops at once.",
              )
            ) {
              setChosen(next);
              change.mutate(next);
            }
          }}
        />
        <span>Chapters may be shared with people outside this book</span>
      </label>
      <p id="policy-hint" className="muted small">
        {may
          ? "Off: chapters can only be shared with the book's own members."
          : "Only the book's owner and admins can change this."}
        {book.plan ? ` Plan: ${book.plan}.` : ""}
      </p>
      {change.isError && (
        <p className="error-text" role="alert">
          {describe(change.error)}
        </p>
      )}
    </section>
  );
}
