import { describe, expect, it, vi } from "vitest";
import { ApiError, CSRF_HEADER, createClient, errorFrom } from "./http";

function fakeFetch(status: number, body: string) {
  return vi.fn(async (_input: RequestInfo | URL, _init?: RequestInit) => {
    return new Response(status === 204 ? null : body, { status });
  });
}

function makeClient(fetch: ReturnType<typeof fakeFetch>, csrf: string | null = "tok") {
  const onUnauthorized = vi.fn();
  const client = createClient({ fetch, csrfToken: () => csrf, onUnauthorized });
  return { client, onUnauthorized };
}

function sentHeaders(fetch: ReturnType<typeof fakeFetch>): Record<string, string> {
  return fetch.mock.calls[0]![1]!.headers as Record<string, string>;
}

describe("the fetch wrapper", () => {
  it("sends the CSRF header on unsafe methods only", async () => {
    for (const method of ["POST", "PUT", "PATCH", "DELETE", "post"]) {
      const fetch = fakeFetch(200, "{}");
      await makeClient(fetch).client.request(method, "/v1/x");
      expect(sentHeaders(fetch)[CSRF_HEADER]).toBe("tok");
    }
    for (const method of ["GET", "HEAD"]) {
      const fetch = fakeFetch(200, "{}");
      await makeClient(fetch).client.request(method, "/v1/x");
      expect(sentHeaders(fetch)[CSRF_HEADER]).toBeUndefined();
    }
  });

  it("sends no CSRF header before signing in, and always same-origin credentials", async () => {
    const fetch = fakeFetch(200, "{}");
    await makeClient(fetch, null).client.request("POST", "/v1/auth/session", { json: {} });
    expect(sentHeaders(fetch)[CSRF_HEADER]).toBeUndefined();
    expect(fetch.mock.calls[0]![1]!.credentials).toBe("same-origin");
  });

  it("sends JSON bodies with their content type and parses JSON answers", async () => {
    const fetch = fakeFetch(200, '{"id": "b1"}');
    const answer = await makeClient(fetch).client.request("POST", "/v1/books", {
      json: { name: "Lab" },
    });
    expect(answer).toEqual({ id: "b1" });
    expect(sentHeaders(fetch)["Content-Type"]).toBe("application/json");
    expect(fetch.mock.calls[0]![1]!.body).toBe('{"name":"Lab"}');
  });

  it("answers undefined for 204", async () => {
    const fetch = fakeFetch(204, "");
    expect(await makeClient(fetch).client.request("DELETE", "/v1/x")).toBeUndefined();
  });

  it("turns the API's JSON errors into typed errors", async () => {
    const fetch = fakeFetch(409, '{"error": {"code": "conflict", "message": "taken"}}');
    const { client, onUnauthorized } = makeClient(fetch);
    const error = await client.request("GET", "/v1/x").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 409, code: "conflict", message: "taken" });
    expect(onUnauthorized).not.toHaveBeenCalled();
  });

  it("turns answers that are not the API's shape into generic errors", () => {
    expect(errorFrom(502, "<html>Bad gateway</html>")).toMatchObject({
      status: 502,
      code: "http_502",
    });
    expect(errorFrom(500, "", "Internal Server Error").message).toBe("Internal Server Error");
    expect(errorFrom(400, '{"detail": "x"}').code).toBe("http_400");
  });

  it("reports a network failure as status 0", async () => {
    const fetch = vi.fn(async () => {
      throw new TypeError("Failed to fetch");
    });
    const client = createClient({ fetch, csrfToken: () => null, onUnauthorized: vi.fn() });
    await expect(client.request("GET", "/v1/x")).rejects.toMatchObject({
      status: 0,
      code: "network",
    });
  });

  it("sends the user to sign in when the session expired or is missing", async () => {
    for (const code of ["session_expired", "not_authenticated"]) {
      const fetch = fakeFetch(401, JSON.stringify({ error: { code, message: "sign in" } }));
      const { client, onUnauthorized } = makeClient(fetch);
      await expect(client.request("GET", "/v1/books")).rejects.toMatchObject({ status: 401, code });
      expect(onUnauthorized).toHaveBeenCalledTimes(1);
    }
  });

  it("treats a refused CSRF token as a lost session", async () => {
    const fetch = fakeFetch(403, '{"error": {"code": "csrf_failed", "message": "no"}}');
    const { client, onUnauthorized } = makeClient(fetch);
    await expect(client.request("POST", "/v1/books")).rejects.toBeInstanceOf(ApiError);
    expect(onUnauthorized).toHaveBeenCalledTimes(1);
  });

  it("leaves wrong credentials and plain refusals to the screen", async () => {
    for (const [status, code] of [
      [401, "invalid_credentials"],
      [403, "forbidden"],
    ] as const) {
      const fetch = fakeFetch(status, JSON.stringify({ error: { code, message: "no" } }));
      const { client, onUnauthorized } = makeClient(fetch);
      await expect(client.request("POST", "/v1/auth/session")).rejects.toMatchObject({ code });
      expect(onUnauthorized).not.toHaveBeenCalled();
    }
  });
});

describe("a sign-in probe", () => {
  it("answers 401 to its caller without signalling a lost session", async () => {
    const fetch = fakeFetch(401, '{"error": {"code": "not_authenticated", "message": "no"}}');
    const { client, onUnauthorized } = makeClient(fetch);
    await expect(client.request("GET", "/v1/me", { probe: true })).rejects.toMatchObject({
      status: 401,
    });
    expect(onUnauthorized).not.toHaveBeenCalled();
  });
});
