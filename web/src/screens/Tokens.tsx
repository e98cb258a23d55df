// API tokens, for the CLI, the SDK and scripts: make one (shown once, with a copy button), see
// them all with their last use and expiry, revoke one.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Check, Copy, KeyRound, Plus, Trash2 } from "lucide-react";
import { useId, useState, type FormEvent } from "react";
import { adminKeys, createToken, listTokens, revokeToken, type Token, type TokenCreated } from "../api/admin";
import { describe } from "../api/http";
import { Button, Field, IconButton, QueryView } from "../components/ui";
import { TOKEN_LIFETIMES, ago, expiry } from "../lib/admin";

export function TokensScreen() {
  const queryClient = useQueryClient();
  const tokens = useQuery({ queryKey: adminKeys.tokens, queryFn: listTokens });
  const [made, setMade] = useState<TokenCreated | null>(null);
  const refresh = () => void queryClient.invalidateQueries({ queryKey: adminKeys.tokens });
  return (
    <section className="page">
      <h1>
        <KeyRound size={22} aria-hidden /> API tokens
      </h1>
      <p className="muted">
        A token lets the <code>ragstack</code> command, the Python SDK or a script act as you. Give
        each machine its own, and revoke the ones you no longer use.
      </p>
      <NewToken
        onCreated={(token) => {
          setMade(token);
          refresh();
        }}
      />
      {made && <ShownOnce token={made} onDone={() => setMade(null)} />}
      <h2 className="section-title">Your tokens</h2>
      <QueryView
        query={tokens}
        loading="Loading your tokens…"
        isEmpty={(list) => list.length === 0}
        empty="You have no API tokens. The web app needs none; make one for the command line or a script."
      >
        {(list) => (
          <ul className="list" aria-label="Your API tokens">
            {list.map((token) => (
              <TokenRow key={token.id} token={token} onRevoked={refresh} />
            ))}
          </ul>
        )}
      </QueryView>
    </section>
  );
}

function NewToken({ onCreated }: { onCreated: (token: TokenCreated) => void }) {
  const [name, setName] = useState("");
  const [lifetime, setLifetime] = useState(0);
  const lifetimeId = useId();
  const create = useMutation({
    mutationFn: () => createToken(name.trim(), TOKEN_LIFETIMES[lifetime]?.seconds ?? null),
    onSuccess: (token) => {
      setName("");
      onCreated(token);
    },
  });
  function onSubmit(event: FormEvent) {
    event.preventDefault();
    if (name.trim()) create.mutate();
  }
  return (
    <form className="inline-form" onSubmit={onSubmit} aria-label="New API token">
      <Field
        label="Token name"
        placeholder="laptop, ci, …"
        value={name}
        maxLength={100}
        onChange={(e) => setName(e.target.value)}
      />
      <div className="field field-narrow">
        <label htmlFor={lifetimeId}>Expires after</label>
        <select id={lifetimeId} value={lifetime} onChange={(e) => setLifetime(Number(e.target.value))}>
          {TOKEN_LIFETIMES.map((l, i) => (
            <option key={l.label} value={i}>
              {l.label}
            </option>
          ))}
        </select>
      </div>
      <Button type="submit" variant="primary" busy={create.isPending} disabled={!name.trim()}>
        <Plus size={16} aria-hidden /> Create token
      </Button>
      {create.isError && (
        <p className="error-text" role="alert">
          {describe(create.error)}
        </p>
      )}
    </form>
  );
}

/** The new token, the only time it is ever shown. */
function ShownOnce({ token, onDone }: { token: TokenCreated; onDone: () => void }) {
  const [copied, setCopied] = useState<"yes" | "no" | null>(null);
  const fieldId = useId();
  async function copy() {
    try {
      await navigator.clipboard.writeText(token.token);
      setCopied("yes");
    } catch {
      setCopied("no"); // no clipboard (plain http, denied): the field is selected instead
      (document.getElementById(fieldId) as HTMLInputElement | null)?.select();
    }
  }
  return (
    <div className="card secret" role="region" aria-label="Your new token">
      <p>
        <strong>Copy “{token.name}” now.</strong> It is shown this once; RagStack keeps only its
        hash.
      </p>
      <div className="inline-form secret-row">
        <label htmlFor={fieldId} className="sr-only">
          The new token
        </label>
        <input id={fieldId} className="mono" readOnly value={token.token} onFocus={(e) => e.target.select()} />
        <Button variant="primary" onClick={() => void copy()}>
          {copied === "yes" ? <Check size={16} aria-hidden /> : <Copy size={16} aria-hidden />}
          {copied === "yes" ? "Copied" : "Copy"}
        </Button>
        <Button variant="ghost" onClick={onDone}>
          Done
        </Button>
      </div>
      <p className="muted small" role="status">
        {copied === "no" ? "Copying is not allowed here: the token is selected, copy it with Ctrl+C." : ""}
      </p>
    </div>
  );
}

function TokenRow({ token, onRevoked }: { token: Token; onRevoked: () => void }) {
  const now = Date.now();
  const revoke = useMutation({ mutationFn: () => revokeToken(token.id), onSuccess: onRevoked });
  const ends = expiry(token.expires_at, now);
  return (
    <li className="row">
      <div className="row-main">
        <span className="row-title">
          {token.name}
          {token.current && <span className="badge">this session</span>}
          {ends.expired && <span className="badge status-rejected">expired</span>}
        </span>
        <span className="muted small">
          made {ago(token.created_at, now)} ·{" "}
          {token.last_used_at === null ? "never used" : `last used ${ago(token.last_used_at, now)}`}
          {!ends.expired && ` · ${ends.text}`}
        </span>
        {revoke.isError && (
          <p className="error-text" role="alert">
            Could not revoke: {describe(revoke.error)}
          </p>
        )}
      </div>
      <IconButton
        label={`Revoke ${token.name}`}
        disabled={revoke.isPending}
        onClick={() => {
          const question = token.current
            ? `Revoke “${token.name}”? It is the session you are using: you will be signed out here.`
            : `Revoke “${token.name}”? Anything using it stops working at once.`;
          if (window.confirm(question))
            revoke.mutate();
        }}
      >
        <Trash2 size={16} aria-hidden />
      </IconButton>
    </li>
  );
}
