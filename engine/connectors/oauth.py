"""OAuth 2.0 for the connectors that need it (Google Drive, Dropbox, OneDrive): the operator's
client, the authorization-code flow with PKCE (RFC 7636), the device flow (RFC 8628), and the
access token kept fresh while a sync runs.

- `Provider` is what is fixed about a service: its default endpoints, the read-only scopes asked
  for, and the extra parameters that make it hand out a refresh token;
- `OAuthClient` talks to its token endpoint (over the same guarded transport as every connector:
  a public address unless the operator's `[web] allow_private_addresses` is on);
- `TokenSource` gives a sync its `Authorization` header, refreshing the access token when it has
  expired or the service answered 401, and saving the new tokens; a refresh the provider refuses
  (`invalid_grant`: revoked, expired, password changed) is `CredentialRejected`, "reconnect".

Tokens and the client secret travel in request bodies and headers only; no message or log line
here ever carries one (the provider's `error` code and its description are all that is quoted).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal
from urllib.parse import urlencode

import httpx
import msgspec

from engine.connectors import ConnectorError, ConnectorUnavailable, CredentialRejected
from engine.connectors.http import check_base_url
from engine.webpages import AddressRefused, guarded_transport

__all__ = [
    "PROVIDERS",
    "DeviceCode",
    "DeviceDenied",
    "DevicePending",
    "OAuthClient",
    "OAuthError",
    "Provider",
    "ProviderName",
    "TokenSource",
    "Tokens",
    "pkce_pair",
    "token_request_error",
]

ProviderName = Literal["google", "dropbox", "microsoft"]
EARLY_S = 60
"""An access token this close to its expiry is refreshed before use (clocks drift)."""


class Provider(msgspec.Struct, frozen=True, kw_only=True):
    """What is fixed about one OAuth provider."""

    name: ProviderName
    kind: str
    """The connector kind it serves."""
    title: str
    auth_url: str
    token_url: str
    device_url: str | None
    api_url: str
    content_url: str | None = None
    scopes: tuple[str, ...]
    auth_params: Mapping[str, str] = {}
    """What makes it issue a refresh token (Google: offline access and a consent prompt)."""
    device_public: bool = False
    """Its device flow treats the client as public: no secret on the device grant nor on the
    refreshes of what it issued (Microsoft answers AADSTS700025 to one); Google's wants it."""


PROVIDERS: dict[str, Provider] = {
    "google": Provider(
        name="google", kind="google_drive", title="Google Drive",
        auth_url="https://accounts.google.com/o/oauth2/v2/auth",
        token_url="https://oauth2.googleapis.com/token",
        # Google's device flow allows only a few Drive scopes, not drive.readonly: the CLI uses
        # the browser flow unless the operator sets a device_url (docs/connectors.md).
        device_url=None,
        api_url="https://www.googleapis.com",
        scopes=("https://www.googleapis.com/auth/drive.readonly",),
        auth_params={"access_type": "offline", "prompt": "consent"},
    ),
    "dropbox": Provider(
        name="dropbox", kind="dropbox", title="Dropbox",
        auth_url="https://www.dropbox.com/oauth2/authorize",
        token_url="https://api.dropboxapi.com/oauth2/token",
        device_url=None,  # Dropbox has no device flow
        api_url="https://api.dropboxapi.com", content_url="https://content.dropboxapi.com",
        # list_folder needs files.metadata.read; files/download needs files.content.read.
        scopes=("files.metadata.read", "files.content.read"),
        auth_params={"token_access_type": "offline"},
    ),
    "microsoft": Provider(
        name="microsoft", kind="onedrive", title="OneDrive",
        auth_url="https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
        token_url="https://login.microsoftonline.com/common/oauth2/v2.0/token",
        device_url="https://login.microsoftonline.com/common/oauth2/v2.0/devicecode",
        api_url="https://graph.microsoft.com/v1.0",
        scopes=("Files.Read", "offline_access"),
        device_public=True,
    ),
}  # fmt: skip
"""The providers, by the name the routes and the CLI use."""


class OAuthError(ConnectorError):
    """The provider refused a step of the flow (its error code is in the message)."""

    code = "oauth_failed"


class DeviceDenied(OAuthError):
    """The person refused the device flow's request, or let its code expire."""

    code = "oauth_denied"


class Tokens(msgspec.Struct, kw_only=True):
    """What the provider issued; stored in the secret box as a connector's credential."""

    access_token: str
    refresh_token: str | None = None
    expires_at: float | None = None
    """Unix seconds; None when the provider did not say."""
    public: bool = False
    """Issued to the client as a public one (a device flow at Microsoft): refreshed without the
    client secret."""

    def __repr__(self) -> str:  # a stray repr in a log or traceback shows no token
        return f"Tokens(expires_at={self.expires_at})"


class DeviceCode(msgspec.Struct, frozen=True, kw_only=True):
    """A device flow started (RFC 8628 §3.2): what the person is shown, what the server polls."""

    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None = None
    interval: int = 5
    expires_in: int = 900


class DevicePending(msgspec.Struct, frozen=True, kw_only=True):
    """The person has not finished yet: poll again after `interval` seconds."""

    slow_down: bool
    interval: int


def pkce_pair() -> tuple[str, str]:
    """(verifier, S256 challenge) for one authorization (RFC 7636 §4.1–4.2)."""
    verifier = secrets.token_urlsafe(64)[:96]
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _error_of(response: httpx.Response) -> tuple[str, str]:
    """The provider's `error` code and a short description (never the body as a whole)."""
    try:
        body = response.json()
    except ValueError:
        return f"http_{response.status_code}", ""
    if not isinstance(body, dict):
        return f"http_{response.status_code}", ""
    error = body.get("error")
    if isinstance(error, dict):  # Dropbox and Graph nest theirs
        error = error.get(".tag") or error.get("code")
    text = body.get("error_description") or body.get("error_summary") or ""
    return str(error or f"http_{response.status_code}")[:64], str(text)[:200]


class OAuthClient:
    """The operator's client at one provider: its token endpoint and the URLs a flow needs."""

    def __init__(
        self, provider: Provider, *, client_id: str, client_secret: str | None,
        auth_url: str | None = None, token_url: str | None = None, device_url: str | None = None,
        allow_private: bool = False, timeout_s: float = 30.0,
    ) -> None:  # fmt: skip
        self.provider = provider
        self.client_id = client_id
        self._secret = client_secret
        self.auth_url = check_base_url(auth_url or provider.auth_url)
        self.token_url = check_base_url(token_url or provider.token_url)
        device = provider.device_url if device_url is None else device_url
        self.device_url = check_base_url(device) if device else None
        self._allow_private, self._timeout_s = allow_private, timeout_s

    def authorize_url(self, *, state: str, challenge: str, redirect_uri: str) -> str:
        """Where the person's browser goes to consent (the code comes back to `redirect_uri`)."""
        params = {
            "response_type": "code", "client_id": self.client_id, "redirect_uri": redirect_uri,
            "scope": " ".join(self.provider.scopes), "state": state,
            "code_challenge": challenge, "code_challenge_method": "S256",
            **self.provider.auth_params,
        }  # fmt: skip
        return f"{self.auth_url}?{urlencode(params)}"

    async def _post(
        self, url: str, form: dict[str, str], *, public: bool = False
    ) -> httpx.Response:
        form = {"client_id": self.client_id, **form}
        if self._secret and not public:
            form["client_secret"] = self._secret
        transport = guarded_transport(
            self._allow_private,
            refusal=f"{self.provider.title}'s sign-in service must be at a public address",
        )
        async with httpx.AsyncClient(transport=transport, timeout=self._timeout_s) as client:
            try:
                return await client.post(url, data=form, headers={"Accept": "application/json"})
            except AddressRefused as exc:
                raise ConnectorError(str(exc)) from None
            except httpx.HTTPError as exc:
                raise ConnectorUnavailable(
                    f"{self.provider.title}'s sign-in service cannot be reached: {type(exc).__name__}"
                ) from None

    def _tokens(
        self, response: httpx.Response, *, keep_refresh: str | None = None, public: bool = False
    ) -> Tokens:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
            raise OAuthError(f"{self.provider.title} answered the token request without a token")
        expires = body.get("expires_in")
        return Tokens(
            access_token=body["access_token"],
            refresh_token=body.get("refresh_token") or keep_refresh,
            expires_at=time.time() + float(expires) if isinstance(expires, int | float) else None,
            public=public,
        )

    def _refused(self, response: httpx.Response, step: str) -> OAuthError:
        error, text = _error_of(response)
        detail = f": {text}" if text else ""
        return OAuthError(f"{self.provider.title} refused {step} ({error}){detail}")

    async def exchange(self, *, code: str, verifier: str, redirect_uri: str) -> Tokens:
        """The tokens for an authorization code (with the PKCE verifier that made its challenge)."""
        response = await self._post(self.token_url, {
            "grant_type": "authorization_code", "code": code, "code_verifier": verifier,
            "redirect_uri": redirect_uri,
        })  # fmt: skip
        if response.status_code != 200:
            raise self._refused(response, "the authorization code")
        return self._tokens(response)

    async def refresh(self, refresh_token: str, *, public: bool = False) -> Tokens:
        """New tokens for a refresh token (`public`: issued by a public device flow);
        CredentialRejected when the grant is gone."""
        response = await self._post(
            self.token_url, {"grant_type": "refresh_token", "refresh_token": refresh_token},
            public=public,
        )  # fmt: skip
        if response.status_code == 200:
            return self._tokens(response, keep_refresh=refresh_token, public=public)
        error, _ = _error_of(response)
        if error in ("invalid_grant", "invalid_client", "unauthorized_client") or (
            response.status_code in (400, 401) and error.startswith("http_")
        ):
            raise CredentialRejected(
                f"{self.provider.title} no longer accepts this connector's sign-in ({error}): the"
                " access was revoked or has expired; reconnect it (Reconnect in the web app, or"
                f" ragstack connector connect CHAPTER --provider {self.provider.name}"
                " --reconnect CONNECTOR)"
            )
        if response.status_code >= 500 or response.status_code == 429:
            raise ConnectorUnavailable(
                f"{self.provider.title}'s sign-in service answered HTTP {response.status_code}"
            )
        raise self._refused(response, "to refresh the access token")

    async def device_start(self) -> DeviceCode:
        """A device flow started at the provider (RFC 8628 §3.1)."""
        if self.device_url is None:
            raise OAuthError(f"{self.provider.title} offers no device flow here")
        response = await self._post(self.device_url, {"scope": " ".join(self.provider.scopes)},
                                    public=self.provider.device_public)  # fmt: skip
        if response.status_code != 200:
            raise self._refused(response, "to start a device sign-in")
        body = response.json()
        # Google names it verification_url; the RFC verification_uri.
        uri = body.get("verification_uri") or body.get("verification_url")
        if not isinstance(body.get("device_code"), str) or not uri:
            raise OAuthError(f"{self.provider.title} started a device sign-in without its codes")
        return DeviceCode(
            device_code=body["device_code"], user_code=str(body.get("user_code", "")),
            verification_uri=str(uri),
            verification_uri_complete=body.get("verification_uri_complete"),
            interval=int(body.get("interval") or 5), expires_in=int(body.get("expires_in") or 900),
        )  # fmt: skip

    async def device_poll(self, device_code: str, interval: int) -> Tokens | DevicePending:
        """One poll of the token endpoint (RFC 8628 §3.4–3.5): the tokens, or pending (with the
        interval to wait, 5 s longer after `slow_down`); DeviceDenied when refused or expired."""
        public = self.provider.device_public
        response = await self._post(self.token_url, {
            "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
            "device_code": device_code,
        }, public=public)  # fmt: skip
        if response.status_code == 200:
            return self._tokens(response, public=public)
        error, _ = _error_of(response)
        if error == "authorization_pending":
            return DevicePending(slow_down=False, interval=interval)
        if error == "slow_down":
            return DevicePending(slow_down=True, interval=interval + 5)
        if error == "access_denied":
            raise DeviceDenied(f"the sign-in to {self.provider.title} was refused")
        if error == "expired_token":
            raise DeviceDenied(
                f"the code for {self.provider.title} expired before the sign-in ended; start again"
            )
        raise self._refused(response, "the device sign-in")


Save = Callable[[Tokens], Awaitable[None]]


class TokenSource:
    """The `Authorization` header of a sync: the stored access token while it is fresh, else a
    refreshed one (saved through `save` before use, so a crash never loses a rotated refresh
    token). `ServiceClient` calls it with `renew=True` after a 401, once per request."""

    def __init__(self, client: OAuthClient, tokens: Tokens, save: Save) -> None:
        self.client, self._tokens, self._save = client, tokens, save
        self.refreshes = 0
        """How many refreshes this sync made (tests read it)."""

    async def __call__(self, renew: bool = False) -> str:
        tokens = self._tokens
        stale = tokens.expires_at is not None and tokens.expires_at - EARLY_S <= time.time()
        if renew or stale:
            if not tokens.refresh_token:
                raise CredentialRejected(
                    f"{self.client.provider.title}'s access token expired and there is no refresh"
                    " token; reconnect the connector"
                )
            tokens = await self.client.refresh(tokens.refresh_token, public=tokens.public)
            await self._save(tokens)
            self._tokens = tokens
            self.refreshes += 1
        return f"Bearer {tokens.access_token}"


def token_request_error(error: Any) -> str:
    """A short, safe rendering of a provider's error parameter (the callback's `error`)."""
    text = str(error or "")
    return "".join(c for c in text if c.isalnum() or c in "_-.")[:64] or "unknown"
