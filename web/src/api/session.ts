// The signed-in session. The server keeps it in an HttpOnly cookie the app never sees; the app
// holds only the CSRF token the sign-in answer carries, in sessionStorage (one tab's life: it is
// useless without the cookie, and a reload must not sign the user out). No bearer token is ever
// stored. In development against a server without cookie sessions, sign-in falls back to a bearer
// token kept in memory only.
import { ApiError, createClient, type Client } from "./http";
import type { User } from "./types";

const CSRF_KEY = "ragstack.csrf";

let csrf: string | null = readStored();
let devBearer: string | null = null;
const listeners = new Set<(error: ApiError) => void>();

function readStored(): string | null {
  try {
    return globalThis.sessionStorage?.getItem(CSRF_KEY) ?? null;
  } catch {
    return null;
  }
}

function store(token: string | null): void {
  csrf = token;
  try {
    if (token) globalThis.sessionStorage?.setItem(CSRF_KEY, token);
    else globalThis.sessionStorage?.removeItem(CSRF_KEY);
  } catch {
    // storage refused (private mode): the token lives in memory for this page
  }
}

/** Calls `listener` whenever a request finds the session gone; returns the unsubscribe. */
export function onSignedOut(listener: (error: ApiError) => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export const client: Client = createClient({
  fetch: (...args) => globalThis.fetch(...args),
  csrfToken: () => csrf,
  bearerToken: () => devBearer,
  onUnauthorized: (error) => {
    store(null);
    devBearer = null;
    for (const listener of listeners) listener(error);
  },
});

interface SessionAnswer {
  user: User;
  csrf_token?: string;
  csrf?: string;
}

function keep(answer: SessionAnswer): User {
  store(answer.csrf_token ?? answer.csrf ?? null);
  return answer.user;
}

export interface Credentials {
  email: string;
  password: string;
}

/** Signs in with a cookie session (or, in development only, a bearer token). */
export async function signIn(credentials: Credentials): Promise<User> {
  try {
    return keep(await client.request<SessionAnswer>("POST", "/v1/auth/session", { json: credentials }));
  } catch (error) {
    const absent = error instanceof ApiError && (error.status === 404 || error.status === 405);
    if (!(import.meta.env.DEV && absent)) throw error;
  }
  const login = await client.request<{ user: User; token: string }>("POST", "/v1/auth/login", {
    json: { ...credentials, token_name: "web (development)" },
  });
  devBearer = login.token;
  return login.user;
}

/** Makes an account and signs in to it at once (one request: the server starts the session;
 * no bearer token is made). */
export async function signUp(credentials: Credentials & { name: string }): Promise<User> {
  return keep(
    await client.request<SessionAnswer>("POST", "/v1/auth/session/signup", { json: credentials }),
  );
}

/** Ends the session on the server and forgets it here, whatever the server answers. */
export async function signOut(): Promise<void> {
  try {
    if (devBearer === null) await client.request("DELETE", "/v1/auth/session");
  } catch {
    // already gone: signing out succeeds anyway
  } finally {
    store(null);
    devBearer = null;
  }
}

/** Who is signed in, or null; a missing CSRF token after a reload is fetched again if offered. */
export async function currentUser(): Promise<User | null> {
  try {
    const user = await client.request<User>("GET", "/v1/me", { probe: true });
    if (csrf === null && devBearer === null) {
      const answer = await client
        .request<SessionAnswer>("GET", "/v1/auth/session", { probe: true })
        .catch(() => null);
      if (answer) keep(answer);
    }
    return user;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return null;
    throw error;
  }
}
