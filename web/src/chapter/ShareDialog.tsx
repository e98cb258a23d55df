// Share a chapter: mode (copy, proxied live at the book's plan, direct live), who, what they may
// do and see; the new share's link shown this once with a copy button; the shares in force, each
// with a revoke.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Check, Copy, Share2, Trash2 } from "lucide-react";
import { useId, useState, type FormEvent } from "react";
import { keys, readBook } from "../api/endpoints";
import {
  createShare,
  listMembers,
  listShares,
  revokeShare,
  sharingKeys,
  type Share,
  type ShareCreated,
  type ShareMode,
} from "../api/sharing";
import { Button, Dialog, Field, IconButton, QueryView } from "../components/ui";
import {
  EMPTY_FORM,
  PERMISSIONS,
  SCOPES,
  acceptLink,
  describeMode,
  shareError,
  shareRequest,
  type Plan,
  type ShareForm,
} from "../lib/sharing";

const MODES: { mode: ShareMode; label: string }[] = [
  { mode: "copy", label: "Copy" },
  { mode: "proxied", label: "Live (proxied)" },
  { mode: "direct", label: "Live (direct)" },
];

export function ShareDialog({
  chapter,
  book,
  open,
  onClose,
}: {
  chapter: string;
  book: string;
  open: boolean;
  onClose: () => void;
}) {
  const [created, setCreated] = useState<ShareCreated | null>(null);
  function close() {
    setCreated(null); // the token is shown once: closing forgets it
    onClose();
  }
  return (
    <Dialog title="Share this chapter" open={open} onClose={close} wide>
      {created ? (
        <CreatedShare share={created} done={() => setCreated(null)} />
      ) : (
        <ShareFormView chapter={chapter} book={book} onCreated={setCreated} />
      )}
      <CurrentShares chapter={chapter} />
    </Dialog>
  );
}

function ShareFormView({
  chapter,
  book,
  onCreated,
}: {
  chapter: string;
  book: string;
  onCreated: (share: ShareCreated) => void;
}) {
  const queryClient = useQueryClient();
  const info = useQuery({ queryKey: keys.book(book), queryFn: () => readBook(book) });
  const members = useQuery({ queryKey: sharingKeys.members(book), queryFn: () => listMembers(book) });
  const plan: Plan = info.data?.plan ?? "free";
  const [form, setForm] = useState<ShareForm>(EMPTY_FORM);
  const [invalid, setInvalid] = useState<string | null>(null);
  const listId = useId();
  const grant = useMutation({
    mutationFn: (request: Parameters<typeof createShare>[1]) => createShare(chapter, request),
    onSuccess: (share) => {
      setForm(EMPTY_FORM);
      onCreated(share);
      void queryClient.invalidateQueries({ queryKey: sharingKeys.shares(chapter) });
    },
  });

  function toggle<K extends "permissions" | "scope">(key: K, value: ShareForm[K][number]) {
    setForm((f) => {
      const list = f[key] as string[];
      const next = list.includes(value) ? list.filter((v) => v !== value) : [...list, value];
      return { ...f, [key]: next };
    });
  }

  function onSubmit(event: FormEvent) {
    event.preventDefault();
    const made = shareRequest(form, Date.now());
    if (!made.ok) {
      setInvalid(made.error);
      return;
    }
    setInvalid(null);
    grant.mutate(made.request);
  }

  const error = invalid ?? (grant.isError ? shareError(grant.error) : null);
  return (
    <form className="share-form" onSubmit={onSubmit} noValidate>
      <fieldset className="share-modes">
        <legend>How</legend>
        {MODES.map(({ mode, label }) => (
          <label key={mode} className="choice">
            <input
              type="radio"
              name="share-mode"
              value={mode}
              checked={form.mode === mode}
              onChange={() => setForm((f) => ({ ...f, mode }))}
            />
            <span>
              <strong>{label}</strong>
              <small className="muted">{describeMode(mode, plan)}</small>
            </span>
          </label>
        ))}
      </fieldset>
      <Field
        label="Share with (e-mail)"
        type="email"
        autoComplete="off"
        list={listId}
        required
        placeholder="someone@example.org"
        value={form.grantee}
        onChange={(e) => setForm((f) => ({ ...f, grantee: e.target.value }))}
        hint={
          info.data && !info.data.external_sharing
            ? "This book allows sharing only with its members."
            : "A member of this book, or anyone if the book allows sharing outside it."
        }
      />
      <datalist id={listId}>
        {(members.data ?? []).map((m) => (
          <option key={m.user} value={m.email} />
        ))}
      </datalist>
      <fieldset className="share-checks">
        <legend>They may also</legend>
        {PERMISSIONS.map((p) => (
          <label key={p.name} className="choice">
            <input
              type="checkbox"
              checked={form.permissions.includes(p.name)}
              onChange={() => toggle("permissions", p.name)}
            />
            <span>
              {p.label} <small className="muted">({p.hint})</small>
            </span>
          </label>
        ))}
      </fieldset>
      <fieldset className="share-checks">
        <legend>What is shared</legend>
        {SCOPES.map((s) => (
          <label key={s.name} className="choice">
            <input
              type="checkbox"
              checked={form.scope.includes(s.name)}
              onChange={() => toggle("scope", s.name)}
            />
            <span>{s.label}</span>
          </label>
        ))}
      </fieldset>
      <Field
        label="Ends after (optional)"
        type="date"
        value={form.expires}
        onChange={(e) => setForm((f) => ({ ...f, expires: e.target.value }))}
        hint="Empty: until you revoke it."
      />
      {error && (
        <p className="error-text" role="alert">
          {error}
        </p>
      )}
      <Button type="submit" variant="primary" busy={grant.isPending}>
        <Share2 size={16} aria-hidden /> Share
      </Button>
    </form>
  );
}

function CreatedShare({ share, done }: { share: ShareCreated; done: () => void }) {
  const link = acceptLink(window.location.origin, share.token);
  return (
    <div className="share-created" role="status">
      <p>
        <strong>Shared with {share.grantee}</strong> ({share.mode}
        {share.interval_s ? `, refreshed every ${Math.round(share.interval_s / 60)} min` : ""}).
        Send them this link: it is shown <strong>only now</strong>. Anyone holding it can open what
        you shared until you revoke it.
      </p>
      <CopyField label="Share link" value={link} focus />
      <CopyField label="Token (for another server or ragstack follow)" value={share.token} />
      <Button onClick={done}>Share with someone else</Button>
    </div>
  );
}

function CopyField({ label, value, focus = false }: { label: string; value: string; focus?: boolean }) {
  const id = useId();
  const [copied, setCopied] = useState<"yes" | "no" | null>(null);
  async function copy() {
    try {
      await navigator.clipboard.writeText(value);
      setCopied("yes");
    } catch {
      setCopied("no"); // no clipboard (insecure origin, denied): the text is selectable
    }
  }
  return (
    <div className="field copy-field">
      <label htmlFor={id}>{label}</label>
      <div className="copy-row">
        {/* The form that had focus is gone: the link takes it, selected, ready to copy. */}
        <input id={id} readOnly value={value} autoFocus={focus} onFocus={(e) => e.currentTarget.select()} />
        <Button onClick={() => void copy()}>
          {copied === "yes" ? <Check size={16} aria-hidden /> : <Copy size={16} aria-hidden />}
          {copied === "yes" ? "Copied" : "Copy"}
        </Button>
      </div>
      {copied === "no" && (
        <small className="muted" role="status">
          Could not reach the clipboard: select the text and copy it.
        </small>
      )}
    </div>
  );
}

function CurrentShares({ chapter }: { chapter: string }) {
  const queryClient = useQueryClient();
  const shares = useQuery({ queryKey: sharingKeys.shares(chapter), queryFn: () => listShares(chapter) });
  const revoke = useMutation({
    mutationFn: (share: string) => revokeShare(chapter, share),
    onSettled: () => void queryClient.invalidateQueries({ queryKey: sharingKeys.shares(chapter) }),
  });
  function onRevoke(share: Share) {
    const live =
      share.mode === "copy"
        ? "They keep the copy they already accepted."
        : share.mode === "proxied"
          ? "Their live mirror leaves their book at its next refresh."
          : "Their live mirror leaves their book at once.";
    if (window.confirm(`Revoke ${share.grantee}'s ${share.mode} share? The link stops working now. ${live}`)) {
      revoke.mutate(share.id);
    }
  }
  return (
    <section className="current-shares" aria-labelledby="shares-title">
      <h3 id="shares-title">Shared with</h3>
      {revoke.isError && (
        <p className="error-text" role="alert">
          Could not revoke: {shareError(revoke.error)}
        </p>
      )}
      <QueryView
        query={shares}
        loading="Loading shares…"
        isEmpty={(list) => list.length === 0}
        empty="Nobody yet."
      >
        {(list) => (
          <ul className="list" aria-label="Shares in force">
            {list.map((share) => (
              <li key={share.id} className="share-row">
                <div>
                  <strong>{share.grantee}</strong>{" "}
                  <span className="badge">{share.mode}</span>
                  <div className="muted small">
                    {share.permissions.length ? `may ${share.permissions.join(", ")}` : "read only"} ·{" "}
                    {share.scope.join(", ")} · since rev {share.granted_rev}
                    {share.expires_at ? ` · ends ${new Date(share.expires_at).toLocaleDateString()}` : ""}
                  </div>
                </div>
                <IconButton
                  label={`Revoke ${share.grantee}'s share`}
                  onClick={() => onRevoke(share)}
                  disabled={revoke.isPending && revoke.variables === share.id}
                >
                  <Trash2 size={16} aria-hidden />
                </IconButton>
              </li>
            ))}
          </ul>
        )}
      </QueryView>
    </section>
  );
}
