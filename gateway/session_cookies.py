"""Browser sessions: the cookie that carries a session's API token, and the CSRF value it needs.

A browser signs in with `POST /v1/auth/session` (gateway/routes/sessions.py). The accounts store
issues an ordinary API token with a lifetime (so it is listed, and revocable, like any token);
the token goes into a cookie no script can read, and the answer carries the session's CSRF value
instead. No credential is ever handed to the page's JavaScript.

- **The cookie.** `HttpOnly`, `SameSite=Strict`, `Path=/`, `Max-Age` the token's lifetime. Over
  https it is also `Secure` and named `__Host-rs_session` (the prefix makes browsers refuse one
  set by a sibling subdomain or over plain http); over http (a laptop, a LAN address) it is
  `rs_session`. Strict rather than Lax because the app's shell (`/`, `/assets/…`) needs no
  session: a link from elsewhere opens the shell, whose own requests are same-site and carry the
  cookie, so Strict costs the app nothing and keeps the cookie off every cross-site request.
- **CSRF.** Every unsafe request (POST, PUT, PATCH, DELETE) authenticated by the cookie must send
  `X-CSRF-Token`: HMAC-SHA256 of the session's token under a server key, so it is bound to the
  session, needs no storage, and cannot be made without the key. The key is derived from the
  accounts store's secret key (`SecretBox.derive("csrf")`), which every process serving one
  accounts store holds already: any of them checks any session's value. The cookie alone never
  authorises a write.
- **Precedence.** A request with `Authorization: Bearer …` is a bearer request (the CLI, the SDK);
  the cookie is looked at only when there is no such header.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Mapping
from pathlib import Path

from starlette.requests import cookie_parser
from starlette.responses import Response
from starlette.types import Scope

from engine.accounts.secrets import SecretBox
from gateway.errors import ApiError

__all__ = [
    "CSRF_HEADER",
    "SECURE_SESSION_COOKIE",
    "SESSION_COOKIE",
    "UNSAFE_METHODS",
    "CsrfFailed",
    "SessionExpired",
    "SessionKeys",
    "clear_session_cookie",
    "clearing_headers",
    "is_https",
    "session_cookie_name",
    "session_token",
    "set_session_cookie",
]

SESSION_COOKIE = "rs_session"
"""The session cookie's name over plain http."""
SECURE_SESSION_COOKIE = "__Host-rs_session"
"""The session cookie's name over https (host-only, Secure, Path=/)."""
CSRF_HEADER = "X-CSRF-Token"
"""Where a cookie-authenticated unsafe request carries the session's CSRF value."""
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
"""Methods that change something: with the cookie, they need the CSRF header."""

_CSRF_CONTEXT = b"ragstack.csrf.v1\x00"


class CsrfFailed(ApiError):
    """A cookie-authenticated write without the session's CSRF value."""

    status = 403
    code = "csrf_failed"


class SessionExpired(ApiError):
    """The session cookie's token is unknown, revoked or past its lifetime: sign in again."""

    status = 401
    code = "session_expired"


class SessionKeys:
    """Makes and checks sessions' CSRF values under the server's key."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("a CSRF key must be at least 32 bytes")
        self._key = bytes(key)

    def __repr__(self) -> str:
        return "SessionKeys(…)"

    @classmethod
    def load(cls, data_dir: Path) -> SessionKeys:
        """The keys derived from the accounts store's secret key (env or `<data>/secret.key`)."""
        return cls(SecretBox.load(data_dir).derive("csrf"))

    def csrf_for(self, token: str) -> str:
        """The CSRF value of the session whose cookie holds `token`."""
        mac = hmac.digest(self._key, _CSRF_CONTEXT + token.encode("utf-8"), "sha256")
        return base64.urlsafe_b64encode(mac).decode("ascii").rstrip("=")

    def check(self, token: str, presented: str | None) -> bool:
        """True when `presented` is the CSRF value of `token`'s session (constant time)."""
        if not presented or len(presented) > 128:
            return False
        return hmac.compare_digest(self.csrf_for(token), presented.strip())


def is_https(scope: Scope) -> bool:
    """Whether the request came over https (uvicorn's proxy_headers set this behind a proxy)."""
    return scope.get("scheme") in ("https", "wss")


def session_cookie_name(secure: bool) -> str:
    """The cookie's name for a request over https (`secure`) or plain http."""
    return SECURE_SESSION_COOKIE if secure else SESSION_COOKIE


def session_token(scope: Scope) -> str | None:
    """The session token in the request's cookie, if any (raw ASGI scope, for middleware too)."""
    name = session_cookie_name(is_https(scope))
    for key, value in scope.get("headers", ()):
        if key.lower() == b"cookie":
            token = cookie_parser(value.decode("latin-1")).get(name)
            if token:
                return token
    return None


def set_session_cookie(response: Response, token: str, *, secure: bool, max_age: int) -> None:
    """Put the session's token in its cookie on `response`."""
    response.set_cookie(
        session_cookie_name(secure),
        token,
        max_age=max_age,
        path="/",
        secure=secure,
        httponly=True,
        samesite="strict",
    )


def clear_session_cookie(response: Response, *, secure: bool) -> None:
    """Tell the browser to forget the session cookie."""
    response.delete_cookie(
        session_cookie_name(secure), path="/", secure=secure, httponly=True, samesite="strict"
    )


def clearing_headers(secure: bool) -> Mapping[str, str]:
    """The `Set-Cookie` header that clears the session cookie, for an error response."""
    scratch = Response()
    clear_session_cookie(scratch, secure=secure)
    return {"Set-Cookie": scratch.headers["set-cookie"]}
