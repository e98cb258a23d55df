"""Browser sessions: an HttpOnly, SameSite cookie, and a CSRF header on every write made with it.

Bearer tokens (the CLI, the SDK) are untouched: a request with `Authorization` never looks at the
cookie, and needs no CSRF header.
"""

from __future__ import annotations

import httpx
import pytest
from gateway_support import assert_error, bearer, sign_up

from engine.settings import Limits
from gateway.session_cookies import CSRF_HEADER, SECURE_SESSION_COOKIE, SESSION_COOKIE, SessionKeys

EMAIL, PASSWORD = "ada@example.org", "correct horse battery"


async def sign_in(client: httpx.AsyncClient, **extra: object) -> dict:
    """Start a session on `client` (its cookie jar keeps the cookie); the answer's body."""
    response = await client.post(
        "/v1/auth/session", json={"email": EMAIL, "password": PASSWORD, **extra}
    )
    assert response.status_code == 200, response.text
    return response.json()


def csrf(session: dict) -> dict[str, str]:
    return {CSRF_HEADER: session["csrf_token"]}


async def test_signing_in_sets_an_httponly_strict_cookie_and_answers_a_csrf_value(client):
    await sign_up(client)
    response = await client.post("/v1/auth/session", json={"email": EMAIL, "password": PASSWORD})
    assert response.status_code == 200, response.text
    # The cookie: HttpOnly, SameSite=Strict, Path=/, a lifetime; not Secure over plain http.
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=rs_")
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/", "max-age=604800"} <= attributes
    assert "secure" not in attributes
    assert response.headers["cache-control"] == "no-store"
    # The body names the user and the CSRF value, never the token itself.
    body = response.json()
    assert body["user"]["email"] == EMAIL and body["csrf_header"] == CSRF_HEADER
    assert body["csrf_token"] and body["expires_at"]
    assert "rs_" not in response.text


async def test_over_https_the_cookie_is_secure_and_host_only(services, app):
    transport = httpx.ASGITransport(app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="https://ragstack.test") as tls:
        await sign_up(tls)
        session = await sign_in(tls)
        cookie = tls.cookies.jar
        [stored] = list(cookie)
        assert stored.name == SECURE_SESSION_COOKIE and stored.secure
        assert (await tls.get("/v1/me")).status_code == 200
        made = await tls.post("/v1/auth/tokens", json={"name": "x"}, headers=csrf(session))
        assert made.status_code == 201, made.text


async def test_a_read_needs_the_cookie_alone(client):
    await sign_up(client)
    await sign_in(client)
    me = await client.get("/v1/me")
    assert me.status_code == 200, me.text
    assert me.json()["email"] == EMAIL
    # Counted like any request.
    metrics = (await client.get("/metrics")).text
    assert 'method="GET",route="/v1/me",status="200"' in metrics


async def test_a_write_without_the_csrf_header_is_refused_and_with_it_goes_through(client):
    await sign_up(client)
    session = await sign_in(client)
    # No header, a wrong one, another session's: all 403 csrf_failed, nothing created.
    assert_error(await client.post("/v1/books", json={"name": "Mine"}), 403, "csrf_failed")
    wrong = {CSRF_HEADER: "x" * 43}
    assert_error(
        await client.post("/v1/books", json={"name": "Mine"}, headers=wrong), 403, "csrf_failed"
    )
    books = (await client.get("/v1/books")).json()
    assert all(b["name"] != "Mine" for b in books["books"])
    # With the session's value it goes through.
    made = await client.post("/v1/books", json={"name": "Mine"}, headers=csrf(session))
    assert made.status_code == 201, made.text


async def test_every_unsafe_method_needs_the_csrf_header(client):
    await sign_up(client)
    session = await sign_in(client)
    created = await client.post("/v1/auth/tokens", json={"name": "x"}, headers=csrf(session))
    token_id = created.json()["id"]
    book = (await client.get("/v1/books")).json()["books"][0]["id"]
    for method, url, kwargs in (
        ("POST", "/v1/auth/tokens", {"json": {"name": "y"}}),
        ("PATCH", f"/v1/books/{book}", {"json": {"external_sharing": True}}),
        ("PUT", f"/v1/books/{book}/llm", {"json": {"kind": "extractive"}}),
        ("DELETE", f"/v1/auth/tokens/{token_id}", {}),
    ):
        refused = await client.request(method, url, **kwargs)
        assert_error(refused, 403, "csrf_failed")
        done = await client.request(method, url, headers=csrf(session), **kwargs)
        assert done.status_code < 300, (method, url, done.text)


async def test_the_session_is_read_again_after_a_reload(client):
    await sign_up(client)
    session = await sign_in(client)
    again = await client.get("/v1/auth/session")
    assert again.status_code == 200, again.text
    assert again.json()["csrf_token"] == session["csrf_token"]
    assert again.json()["token_id"] == session["token_id"]
    # It is listed among the user's tokens, as the current one.
    tokens = (await client.get("/v1/auth/tokens")).json()["tokens"]
    [current] = [t for t in tokens if t["current"]]
    assert current["id"] == session["token_id"] and current["name"] == "web session"


async def test_signing_out_revokes_the_session_and_clears_the_cookie(client):
    await sign_up(client)
    session = await sign_in(client)
    cookie = client.cookies[SESSION_COOKIE]
    # Signing out is a write: without the CSRF value it is refused.
    assert_error(await client.delete("/v1/auth/session"), 403, "csrf_failed")
    out = await client.delete("/v1/auth/session", headers=csrf(session))
    assert out.status_code == 204, out.text
    assert "max-age=0" in out.headers["set-cookie"].lower()
    assert SESSION_COOKIE not in client.cookies
    # The old cookie, sent again, is a 401 the app recognises (and the answer clears it).
    client.cookies.set(SESSION_COOKIE, cookie)
    ended = await client.get("/v1/me")
    assert_error(ended, 401, "session_expired")
    assert "max-age=0" in ended.headers["set-cookie"].lower()
    # Signing out of the ended session again is harmless.
    assert (await client.delete("/v1/auth/session", headers=csrf(session))).status_code == 204


async def test_an_expired_session_is_401_session_expired(client, clock):
    await sign_up(client)
    await sign_in(client, ttl_s=60)
    assert (await client.get("/v1/me")).status_code == 200
    clock.advance(120)
    assert_error(await client.get("/v1/me"), 401, "session_expired")
    # The answer cleared the cookie: the browser is plainly signed out now.
    assert SESSION_COOKIE not in client.cookies
    assert_error(await client.get("/v1/auth/session"), 401, "not_authenticated")


async def test_without_a_cookie_the_session_route_is_401(client):
    token = await sign_up(client)
    # A bearer token is no browser session.
    assert_error(
        await client.get("/v1/auth/session", headers=bearer(token)), 401, "not_authenticated"
    )


async def test_bearer_tokens_are_unaffected_and_win_over_the_cookie(client, make_client):
    token = await sign_up(client)
    await sign_in(client)
    # A bearer write needs no CSRF header, even with a session cookie beside it.
    made = await client.post("/v1/books", json={"name": "By bearer"}, headers=bearer(token))
    assert made.status_code == 201, made.text
    # A bad bearer token is refused as such: the cookie is not a fallback for it.
    bad = await client.get("/v1/me", headers=bearer("rs_" + "x" * 43))
    assert_error(bad, 401, "invalid_token")
    async with make_client() as fresh:
        assert (await fresh.get("/v1/me", headers=bearer(token))).status_code == 200


async def test_signing_up_can_start_a_session_with_a_first_book(client):
    response = await client.post(
        "/v1/auth/session/signup", json={"email": EMAIL, "password": PASSWORD, "name": "Ada"}
    )
    assert response.status_code == 201, response.text
    assert response.cookies.get(SESSION_COOKIE)
    books = await client.get("/v1/books")
    assert books.status_code == 200 and len(books.json()["books"]) == 1


async def test_wrong_credentials_set_no_cookie(client):
    await sign_up(client)
    response = await client.post("/v1/auth/session", json={"email": EMAIL, "password": "nope" * 3})
    assert_error(response, 401, "invalid_credentials")
    assert "set-cookie" not in response.headers


async def test_the_openapi_document_declares_the_cookie_scheme(client):
    document = (await client.get("/openapi.json")).json()
    scheme = document["components"]["securitySchemes"]["session"]
    assert scheme == {**scheme, "type": "apiKey", "in": "cookie", "name": SESSION_COOKIE}
    assert {"session": []} in document["paths"]["/v1/me"]["get"]["security"]


class TestRateLimits:
    @pytest.fixture
    def limits(self) -> Limits:
        return Limits(requests_per_minute_token=3, requests_per_minute_address=100)

    async def test_a_session_is_charged_to_its_own_bucket(self, client, make_client):
        await sign_up(client)
        await sign_in(client)
        for _ in range(3):
            assert (await client.get("/v1/me")).status_code == 200
        assert_error(await client.get("/v1/me"), 429, "rate_limited")
        # Another caller from the same address is not held back by this session.
        async with make_client() as other:
            assert (await other.get("/v1/info")).status_code == 200


def test_every_process_with_the_secret_key_checks_any_sessions_csrf_value(settings, tmp_path):
    # The key comes from the accounts store's secret key: no file or table of its own.
    one, two = SessionKeys.load(settings.data), SessionKeys.load(settings.data)
    value = one.csrf_for("rs_token")
    assert two.check("rs_token", value) and not two.check("rs_other", value)
    elsewhere = SessionKeys.load(tmp_path / "another-data-dir")
    assert not elsewhere.check("rs_token", value)
    assert "rs_token" not in repr(one) and value not in repr(one)
