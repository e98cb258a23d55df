// The LLM that answers a book's questions: kind, model, API URL and key. The key is write-only:
// the server never sends it back, so the form only says whether one is set, and an empty key
// field keeps it (lib/admin.ts decides what is sent).
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Bot } from "lucide-react";
import { useEffect, useId, useState, type FormEvent } from "react";
import { adminKeys, readLlm, resetLlm, writeLlm, type LlmKind, type LlmSettings } from "../api/admin";
import { describe } from "../api/http";
import { Button, Field, QueryView } from "../components/ui";
import { LLM_KINDS, keepsKey, llmForm, llmUpdate, manages, needsKey, type LlmForm } from "../lib/admin";

export function LlmSection({ book, myRole }: { book: string; myRole: string }) {
  const settings = useQuery({ queryKey: adminKeys.llm(book), queryFn: () => readLlm(book) });
  return (
    <section className="panel" aria-labelledby="llm-title">
      <h2 id="llm-title">
        <Bot size={18} aria-hidden /> Answers
      </h2>
      <QueryView query={settings} loading="Loading the LLM settings…">
        {(current) => (
          <>
            <p className="muted">{describeLlm(current)}</p>
            {manages(myRole) ? (
              <LlmEditor book={book} current={current} />
            ) : (
              <p className="muted small">Only the book's owner and admins can change this.</p>
            )}
          </>
        )}
      </QueryView>
    </section>
  );
}

function describeLlm(s: LlmSettings): string {
  if (s.source === "none") return "No LLM is configured: answers are extractive (the best passages, cited).";
  const what =
    s.kind === "extractive"
      ? "extractive answers (the best passages, cited; no LLM)"
      : `${s.kind}${s.model ? ` · ${s.model}` : ""}${s.base_url ? ` at ${s.base_url}` : ""}`;
  if (s.source === "server") return `The server's default answers: ${what}.`;
  const key = s.kind === "extractive" ? "" : s.has_api_key ? " · an API key is set" : " · no API key";
  return `This book's own settings answer: ${what}${key}.`;
}

function LlmEditor({ book, current }: { book: string; current: LlmSettings }) {
  const queryClient = useQueryClient();
  const [form, setForm] = useState<LlmForm>(() => llmForm(current));
  const [invalid, setInvalid] = useState<string | null>(null);
  const kindId = useId();
  useEffect(() => setForm(llmForm(current)), [current]);
  const done = (next: LlmSettings) => {
    queryClient.setQueryData(adminKeys.llm(book), next);
    setForm(llmForm(next));
  };
  const save = useMutation({
    mutationFn: (body: Parameters<typeof writeLlm>[1]) => writeLlm(book, body),
    onSuccess: done,
  });
  const reset = useMutation({ mutationFn: () => resetLlm(book), onSuccess: done });
  const set = (change: Partial<LlmForm>) => {
    setInvalid(null);
    setForm((f) => ({ ...f, ...change }));
  };
  function onSubmit(event: FormEvent) {
    event.preventDefault();
    const made = llmUpdate(current, form);
    if (!made.ok) setInvalid(made.error);
    else save.mutate(made.body);
  }
  const llm = form.kind !== "extractive";
  const kept = keepsKey(current, form);
  const storedKey = current.source === "book" && current.has_api_key;
  const failed = invalid ?? (save.isError ? describe(save.error) : reset.isError ? describe(reset.error) : null);
  return (
    <form className="stack" onSubmit={onSubmit} aria-label="LLM settings">
      <div className="field">
        <label htmlFor={kindId}>Kind</label>
        <select id={kindId} value={form.kind} onChange={(e) => set({ kind: e.target.value as LlmKind })}>
          {LLM_KINDS.map((k) => (
            <option key={k.kind} value={k.kind}>
              {k.label}
            </option>
          ))}
        </select>
      </div>
      {llm && (
        <>
          <Field
            label="Model"
            placeholder="empty: the provider's default"
            value={form.model}
            maxLength={200}
            onChange={(e) => set({ model: e.target.value })}
          />
          <Field
            label="API URL"
            type="url"
            placeholder="empty: the provider's public endpoint"
            hint={form.kind === "openai" ? "An OpenAI-compatible server's URL ends in /v1." : undefined}
            value={form.baseUrl}
            maxLength={2000}
            onChange={(e) => set({ baseUrl: e.target.value })}
          />
          <Field
            label="API key"
            type="password"
            autoComplete="new-password"
            placeholder={kept ? "a key is set: leave empty to keep it" : needsKey(form.kind, form.baseUrl) ? "required" : "optional"}
            hint={
              storedKey && !kept && !form.clearKey
                ? "The stored key is kept only for the same kind and URL: enter the key again."
                : "Stored encrypted; it is never shown again, here or anywhere."
            }
            value={form.key}
            maxLength={4096}
            onChange={(e) => set({ key: e.target.value })}
          />
          {storedKey && (
            <label className="check">
              <input
                type="checkbox"
                checked={form.clearKey}
                onChange={(e) => set({ clearKey: e.target.checked, key: "" })}
              />
              Forget the stored key
            </label>
          )}
        </>
      )}
      {failed && (
        <p className="error-text" role="alert">
          {failed}
        </p>
      )}
      {save.isSuccess && !failed && (
        <p className="muted small" role="status">
          Saved.
        </p>
      )}
      <div className="actions">
        <Button type="submit" variant="primary" busy={save.isPending}>
          Save
        </Button>
        {current.source === "book" && (
          <Button
            variant="ghost"
            busy={reset.isPending}
            onClick={() => {
              if (window.confirm("Forget this book's settings and key? The server's default answers instead."))
                reset.mutate();
            }}
          >
            Use the server's default
          </Button>
        )}
      </div>
    </form>
  );
}
