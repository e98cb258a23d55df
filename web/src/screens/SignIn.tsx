import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link, useLocation, useNavigate, useSearchParams } from "react-router";
import { keys } from "../api/endpoints";
import { describe } from "../api/http";
import { signIn, signUp } from "../api/session";
import { Button, Field } from "../components/ui";

/** Only paths of this app: a `next` naming another site is ignored. */
function safeNext(next: string | null): string {
  return next && next.startsWith("/") && !next.startsWith("//") ? next : "/books";
}

export function SignInScreen({ mode }: { mode: "signin" | "signup" }) {
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const location = useLocation();
  const [params] = useSearchParams();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [name, setName] = useState("");
  const expired = (location.state as { reason?: string } | null)?.reason === "expired";

  const submit = useMutation({
    mutationFn: () =>
      mode === "signin" ? signIn({ email, password }) : signUp({ email, password, name }),
    onSuccess: (user) => {
      queryClient.setQueryData(keys.me, user);
      navigate(safeNext(params.get("next")), { replace: true });
    },
  });

  function onSubmit(event: FormEvent) {
    event.preventDefault();
    submit.mutate();
  }

  const title = mode === "signin" ? "Sign in" : "Create an account";
  return (
    <div className="auth">
      <form className="card auth-card" onSubmit={onSubmit} aria-labelledby="auth-title">
        <h1 id="auth-title">{title}</h1>
        {expired && (
          <p className="notice" role="status">
            Your session has expired. Sign in again to carry on.
          </p>
        )}
        {mode === "signup" && (
          <Field label="Name" value={name} onChange={(e) => setName(e.target.value)} autoComplete="name" />
        )}
        <Field
          label="E-mail"
          type="email"
          required
          autoComplete="email"
          value={email}
          onChange={(e) => setEmail(e.target.value)}
        />
        <Field
          label="Password"
          type="password"
          required
          minLength={8}
          autoComplete={mode === "signin" ? "current-password" : "new-password"}
          hint={mode === "signup" ? "At least 8 characters." : undefined}
          value={password}
          onChange={(e) => setPassword(e.target.value)}
        />
        {submit.isError && (
          <p className="error-text" role="alert">
            {describe(submit.error)}
          </p>
        )}
        <Button type="submit" variant="primary" busy={submit.isPending}>
          {title}
        </Button>
        <p className="muted">
          {mode === "signin" ? (
            <>
              New here? <Link to={`/signup${location.search}`}>Create an account</Link>
            </>
          ) : (
            <>
              Have an account? <Link to={`/signin${location.search}`}>Sign in</Link>
            </>
          )}
        </p>
      </form>
    </div>
  );
}
