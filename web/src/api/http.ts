// The one way the app talks to the server: same-origin fetches carrying the session cookie, the
// CSRF header on every unsafe request, and the API's JSON errors `{error: {code, message}}` turned
// into `ApiError`s. A request refused for want of a session calls `onUnauthorized` (the app sends
// the user to the sign-in screen) before the error reaches the caller.

export const CSRF_HEADER = "X-CSRF-Token";
const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/** Codes a 401 carries that mean "sign in again" rather than "those credentials are wrong". */
const SIGNED_OUT_CODES = new Set([
  "session_expired",
  "not_authenticated",
  "invalid_token",
  "token_expired",
]);

/** An error the server answered (or the network failed with: status 0, code `network`). */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: unknown;

  constructor(status: number, code: string, message: string, details?: unknown) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details;
  }

  /** True when the user must sign in again (expired or missing session, CSRF token refused). */
  get signedOut(): boolean {
    if (this.status === 401) return SIGNED_OUT_CODES.has(this.code) || this.code === `http_401`;
    return this.status === 403 && this.code.startsWith("csrf");
  }
}

/** The `ApiError` an answer's status and body make; bodies that are not the API's shape too. */
export function errorFrom(status: number, body: string, statusText = ""): ApiError {
  try {
    const parsed: unknown = JSON.parse(body);
    if (parsed && typeof parsed === "object" && "error" in parsed) {
      const error = (parsed as { error: unknown }).error;
      if (error && typeof error === "object") {
        const { code, message, details } = error as Record<string, unknown>;
        if (typeof code === "string") {
          return new ApiError(status, code, typeof message === "string" ? message : code, details);
        }
      }
    }
  } catch {
    // not JSON: a proxy's error page, say; fall through to a generic error
  }
  const text = body.trim().slice(0, 200);
  return new ApiError(status, `http_${status}`, text || statusText || `HTTP ${status}`);
}

export interface RequestOptions {
  /** A value sent as JSON. */
  json?: unknown;
  /** A body sent as is (FormData, text). */
  body?: BodyInit;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** What the answer is read as; `response` hands it back unread (streams). */
  read?: "json" | "text" | "response";
  /** A probe of whether anyone is signed in: a 401 is its answer, not a lost session. */
  probe?: boolean;
}

export interface ClientConfig {
  fetch: typeof fetch;
  /** The CSRF token of the current session, or null before signing in. */
  csrfToken: () => string | null;
  /** A bearer token, only for development against a server without cookie sessions. */
  bearerToken?: () => string | null;
  /** Called once per request refused because the session is gone. */
  onUnauthorized: (error: ApiError) => void;
}

export interface Client {
  request<T>(method: string, path: string, options?: RequestOptions): Promise<T>;
  /** The headers a request of `method` carries (for XMLHttpRequest uploads). */
  headersFor(method: string): Record<string, string>;
  /** Hands a refusal to `onUnauthorized` when it means the session is gone; returns it. */
  check(error: ApiError): ApiError;
}

export function createClient(config: ClientConfig): Client {
  function headersFor(method: string): Record<string, string> {
    const headers: Record<string, string> = {};
    const csrf = config.csrfToken();
    if (UNSAFE.has(method.toUpperCase()) && csrf) headers[CSRF_HEADER] = csrf;
    const bearer = config.bearerToken?.();
    if (bearer) headers.Authorization = `Bearer ${bearer}`;
    return headers;
  }

  function check(error: ApiError): ApiError {
    if (error.signedOut) config.onUnauthorized(error);
    return error;
  }

  async function request<T>(method: string, path: string, options: RequestOptions = {}) {
    const headers: Record<string, string> = {
      Accept: "application/json",
      ...headersFor(method),
      ...options.headers,
    };
    let body = options.body;
    if (options.json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(options.json);
    }
    let response: Response;
    try {
      response = await config.fetch(path, {
        method,
        headers,
        body,
        credentials: "same-origin",
        signal: options.signal,
      });
    } catch (cause) {
      if (cause instanceof DOMException && cause.name === "AbortError") throw cause;
      throw new ApiError(0, "network", "The server could not be reached. Check your connection.");
    }
    if (!response.ok) {
      const error = errorFrom(response.status, await response.text(), response.statusText);
      throw options.probe ? error : check(error);
    }
    const read = options.read ?? "json";
    if (read === "response") return response as T;
    if (read === "text") return (await response.text()) as T;
    if (response.status === 204) return undefined as T;
    const text = await response.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  return { request, headersFor, check };
}

/** What a person reads when `error` stops a screen. */
export function describe(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof Error) return error.message;
  return "Something went wrong.";
}
