"""An OAuth 2.0 authorization server's token side, for the connector fakes that need one
(drive_server.py, dropbox_server.py, onedrive_server.py mount it on their own port under
/oauth/): the authorization-code grant with PKCE S256 checked (RFC 7636), `refresh_token`
(rotating the refresh token when asked, `invalid_grant` once revoked), the device flow
(RFC 8628: `authorization_pending`, `slow_down`, `access_denied`, `expired_token` in the order a
test scripts), client authentication by `client_secret` in the form, and errors as
`{"error", "error_description"}`. `approve` plays the person's browser at the authorize URL;
a real browser sent to `GET /oauth/authorize` (the web app's tests) is answered as a provider's
consent page would, once the person consented (or refused: `consent = "deny"`): a 302 back to
the redirect URI with `code` and `state` (or `error=access_denied`).

`ApiServer` is the shared plumbing of the service fakes: a WireServer whose requests are
recorded, the /oauth/ paths answered by the FakeOAuth, a scripted failure (429 with
Retry-After) served first, and Bearer access tokens checked against the ones issued."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from tests.fakes.wire import WireServer

Reply = tuple[int, dict[str, str], bytes]


def json_reply(status: int, body: Any, headers: dict[str, str] | None = None) -> Reply:
    return (
        status,
        {"Content-Type": "application/json", **(headers or {})},
        json.dumps(body).encode(),
    )


@dataclass
class FakeOAuth:
    client_id: str = "ragstack-client-id"
    client_secret: str = "client-secret-do-not-leak-0123"
    expires_in: int = 3600
    rotate: bool = False
    """Issue a new refresh token on every refresh (as Microsoft does)."""
    public_device: bool = False
    """The device flow treats the client as public, as Microsoft's does: a client secret on its
    grant, or on the refresh of what it issued, is refused (AADSTS700025)."""
    public_refresh: set[str] = field(default_factory=set)
    codes: dict[str, tuple[str, str]] = field(default_factory=dict)
    """code → (S256 challenge, redirect_uri)."""
    access_tokens: set[str] = field(default_factory=set)
    refresh_tokens: set[str] = field(default_factory=set)
    device_script: list[str] = field(default_factory=list)
    """What each device poll answers, in order: an RFC 8628 error code, or "ok"."""
    device_code: str = "device-code-do-not-leak"
    device_interval: int = 5
    grants: list[str] = field(default_factory=list)
    """The grant_type of each token request, in order."""
    consent: str = "approve"
    """What the person does at `GET /oauth/authorize`: "approve" or "deny"."""
    _serial: itertools.count = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def approve(self, authorize_url: str) -> tuple[str, str, str]:
        """The person consents at `authorize_url`: (code, state, redirect_uri) as the provider
        would send them back to the callback."""
        query = dict(parse_qsl(urlsplit(authorize_url).query))
        assert query["client_id"] == self.client_id and query["response_type"] == "code"
        assert query["code_challenge_method"] == "S256"
        code = f"code-{next(self._serial)}-do-not-leak"
        self.codes[code] = (query["code_challenge"], query["redirect_uri"])
        return code, query["state"], query["redirect_uri"]

    def issue(self, *, public: bool = False) -> dict[str, Any]:
        n = next(self._serial)
        access, refresh = f"access-{n}-do-not-leak", f"refresh-{n}-do-not-leak"
        self.access_tokens.add(access)
        self.refresh_tokens.add(refresh)
        if public:
            self.public_refresh.add(refresh)
        return {"access_token": access, "refresh_token": refresh, "token_type": "Bearer",
                "expires_in": self.expires_in, "scope": "read"}  # fmt: skip

    def expire_access(self) -> None:
        """Every access token issued so far stops working (the API answers 401)."""
        self.access_tokens.clear()

    def revoke(self) -> None:
        """The person revoked the app: refreshes answer invalid_grant."""
        self.access_tokens.clear()
        self.refresh_tokens.clear()

    def authorize(self, query: dict[str, str]) -> Reply:
        """`GET /oauth/authorize?…` in a browser: the person's answer, sent back at once."""
        if "redirect_uri" not in query:
            return self._error(400, "invalid_request", "no redirect_uri")
        if self.consent == "deny":
            back = {"error": "access_denied", "state": query.get("state", "")}
        else:
            code, state, _ = self.approve(query_url("/oauth/authorize", **query))
            back = {"code": code, "state": state}
        return 302, {"Location": query_url(query["redirect_uri"], **back)}, b""

    @staticmethod
    def _error(status: int, error: str, text: str = "") -> Reply:
        return json_reply(status, {"error": error, "error_description": text})

    def answer(self, path: str, body: bytes) -> Reply:
        form = dict(parse_qsl(body.decode()))
        if path == "/oauth/device":
            if form.get("client_id") != self.client_id or (
                self.public_device and "client_secret" in form
            ):
                return self._error(401, "invalid_client")
            return json_reply(200, {
                "device_code": self.device_code, "user_code": "WDJB-MJHT",
                "verification_uri": "https://example.test/device", "expires_in": 900,
                "interval": self.device_interval,
            })  # fmt: skip
        if path != "/oauth/token":
            return self._error(404, "not_found")
        grant = form.get("grant_type", "")
        public = self.public_device and (
            grant.endswith("device_code") or form.get("refresh_token") in self.public_refresh
        )
        if form.get("client_id") != self.client_id:
            return self._error(401, "invalid_client", "unknown client")
        if public and "client_secret" in form:
            return self._error(401, "invalid_client", "AADSTS700025: Client is public so neither"
                               " 'client_assertion' nor 'client_secret' should be presented.")  # fmt: skip
        if not public and form.get("client_secret") != self.client_secret:
            return self._error(401, "invalid_client", "client authentication failed")
        with self._lock:
            self.grants.append(grant)
            if grant == "authorization_code":
                challenge, redirect = self.codes.pop(form.get("code", ""), ("", ""))
                verifier = form.get("code_verifier", "").encode()
                made = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=")
                if (
                    not challenge
                    or made.decode() != challenge
                    or form.get("redirect_uri") != redirect
                ):
                    return self._error(400, "invalid_grant", "the code is invalid or was used")
                return json_reply(200, self.issue())
            if grant == "refresh_token":
                token = form.get("refresh_token", "")
                if token not in self.refresh_tokens:
                    return self._error(400, "invalid_grant", "Token has been expired or revoked.")
                issued = self.issue(public=token in self.public_refresh)
                if self.rotate:
                    self.refresh_tokens.discard(token)
                else:
                    self.refresh_tokens.discard(issued["refresh_token"])
                    del issued["refresh_token"]
                return json_reply(200, issued)
            if grant == "urn:ietf:params:oauth:grant-type:device_code":
                if form.get("device_code") != self.device_code:
                    return self._error(400, "invalid_grant")
                step = self.device_script.pop(0) if self.device_script else "ok"
                if step == "ok":
                    return json_reply(200, self.issue(public=self.public_device))
                return self._error(400, step)
        return self._error(400, "unsupported_grant_type")


class ApiServer:
    """A service fake's port: `/oauth/…` to the FakeOAuth, the rest to `api(method, path,
    query, headers, body)` once the Bearer token checks out."""

    def __init__(self, oauth: FakeOAuth | None = None) -> None:
        self.oauth = oauth or FakeOAuth()
        self.requests: list[tuple[str, str]] = []
        self.authorizations: list[str] = []
        """Every Authorization header the API paths received (tests check tokens stay there)."""
        self._failures: list[tuple[int, str | None, Any]] = []
        self.base_url = ""
        self.open_paths: tuple[str, ...] = ()
        """Path prefixes answered without a token (pre-authenticated download URLs)."""

    def fail_next(self, status: int, *, retry_after: str | None = None, body: Any = None) -> None:
        """The next API request answers `status` (with `body`, default a rate-limit error)."""
        self._failures.append((status, retry_after, body))

    def unauthorized(self) -> Reply:
        return json_reply(401, {"error": {"code": 401, "message": "Invalid Credentials"}})

    def api(self, method: str, path: str, query: dict[str, str], headers: dict[str, str],
            body: bytes) -> Reply:  # fmt: skip
        raise NotImplementedError

    def _answer(self, method: str, path: str, query: dict[str, str], headers: dict[str, str],
                body: bytes) -> Reply:  # fmt: skip
        self.requests.append((method, path))
        if method == "GET" and path == "/oauth/authorize":
            return self.oauth.authorize(query)
        if path.startswith("/oauth/"):
            return self.oauth.answer(path, body)
        if self._failures:
            status, retry_after, error = self._failures.pop(0)
            return json_reply(status, error or {"error": "rate limited"},
                              {"Retry-After": retry_after} if retry_after else {})  # fmt: skip
        authorization = headers.get("authorization", "")
        if self.open_paths and path.startswith(self.open_paths):
            return self.api(method, path, query, headers, body)
        self.authorizations.append(authorization)
        if authorization.removeprefix("Bearer ") not in self.oauth.access_tokens:
            return self.unauthorized()
        return self.api(method, path, query, headers, body)

    def settings(self, provider: str) -> dict[str, Any]:
        """The operator's `[connectors.oauth.<provider>]` pointing at this fake."""
        return {provider: {
            "client_id": self.oauth.client_id, "client_secret": self.oauth.client_secret,
            "auth_url": f"{self.base_url}/oauth/authorize", "token_url": f"{self.base_url}/oauth/token",
            "device_url": f"{self.base_url}/oauth/device", "api_url": self.base_url,
            "content_url": self.base_url,
        }}  # fmt: skip

    def __enter__(self) -> ApiServer:
        self._server = WireServer(self._answer, methods=("GET", "POST"))
        self.base_url = self._server.base_url
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.close()


def query_url(base: str, **params: str) -> str:
    return f"{base}?{urlencode(params)}"
