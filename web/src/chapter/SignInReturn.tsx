// What a sign-in at Google Drive, Dropbox or OneDrive came back with: the server's callback sends
// the browser to the chapter page with `?connector=<id>` (connected or reconnected) or
// `?connector_error=<code>` (an unknown sign-in to the books page, which names no chapter). The
// screen reads it once, takes it out of the address (so a reload or a bookmark does not show it
// again), and shows a notice until it is dismissed.
import { useQuery } from "@tanstack/react-query";
import { X } from "lucide-react";
import { useEffect, useState } from "react";
import { useSearchParams } from "react-router";
import { connectorKeys, listConnectors, type Connector } from "../api/connectors";
import { IconButton } from "../components/ui";
import { oauthConnectedText, oauthErrorText } from "../lib/connectors";

export interface SignInReturn {
  /** The connector the sign-in made or reconnected. */
  connector: string | null;
  /** Why it made none (app/oauth.py's codes). */
  error: string | null;
}

const PARAMS = ["connector", "connector_error"] as const;

/** The outcome in the address when the screen opened (kept after it leaves the address), and
 *  `dismiss` to stop showing it. */
export function useSignInReturn(): [SignInReturn | null, () => void] {
  const [params, setParams] = useSearchParams();
  const [outcome, setOutcome] = useState<SignInReturn | null>(() => {
    const connector = params.get("connector");
    const error = params.get("connector_error");
    return connector || error ? { connector: connector || null, error: error || null } : null;
  });
  useEffect(() => {
    if (!PARAMS.some((p) => params.has(p))) return;
    const next = new URLSearchParams(params);
    for (const p of PARAMS) next.delete(p);
    setParams(next, { replace: true }); // history.replaceState: no new history entry
  }, [params, setParams]);
  return [outcome, () => setOutcome(null)];
}

/** The notice: which service was connected and that its sync runs, or why nothing was. */
export function SignInNotice({
  chapter,
  outcome,
  dismiss,
}: {
  chapter?: string;
  outcome: SignInReturn;
  dismiss: () => void;
}) {
  // The panel's own list (one request for both): the kind names the service.
  const connectors = useQuery({
    queryKey: connectorKeys.list(chapter ?? ""),
    queryFn: () => listConnectors(chapter ?? ""),
    enabled: Boolean(chapter && outcome.connector),
  });
  const ok = outcome.connector !== null && outcome.error === null;
  // The connector as first listed, before the sync this page starts: once that sync has run, its
  // last run would make a new connector read as reconnected.
  const listed = connectors.data?.find((c) => c.id === outcome.connector);
  const [first, setFirst] = useState<Connector | undefined>(undefined);
  useEffect(() => {
    if (listed && !first) setFirst(listed);
  }, [listed, first]);
  const text = ok
    ? oauthConnectedText(first ?? listed)
    : oauthErrorText(outcome.error ?? "oauth_failed");
  return (
    <div className={`notice sign-in-notice ${ok ? "notice-ok" : "notice-error"}`} role={ok ? "status" : "alert"}>
      <p>{text}</p>
      <IconButton label="Dismiss" onClick={dismiss}>
        <X size={16} aria-hidden />
      </IconButton>
    </div>
  );
}
