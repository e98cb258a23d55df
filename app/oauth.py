"""Connecting a chapter to Google Drive, Dropbox or OneDrive: the OAuth flows that end in a
connector whose tokens are in the secret box (engine/connectors/oauth.py speaks the protocol).

Two flows, both started by a signed-in person for one chapter they may write to:

- **browser** (the web app, and the CLI where the provider has no device flow): `start` gives the
  provider's authorize URL, with PKCE and a `state` naming a flow kept here, server side, bound to
  the person, the chapter and the library, single use, `FLOW_TTL_S` long. The provider sends the
  browser back to the callback with a code; `callback` takes the flow the state names (the
  state's secret half is compared by its hash: the redirect's parameters alone are never
  trusted), checks the person may still write to the chapter, exchanges the code and makes the
  connector. The provider's authorization code is single use too, which closes the race of two
  callbacks of one state in two processes.
- **device** (RFC 8628, the CLI): `device_start` asks the provider for a user code; `poll` polls
  its token endpoint once per call (the CLI waits `interval` between calls, longer after
  `slow_down`), until the tokens come, the person refuses, or the code expires.

`poll` also tells a CLI that used the browser flow when the callback has made its connector.

Either flow may **reconnect** an existing connector (`connector`): its refresh was refused
(`credential_rejected`), so the new tokens replace its credential; its library, cursor and the
sources it brought in stay, where a new connector would bring every file in again.

Storage, in the accounts store (encrypted at rest): scope `oauth_flows`, name = the flow id: the
flow (person, chapter, provider, library, the PKCE verifier or the device code, its expiry and,
once ended, its connector or error). Expired flows are swept when a new one starts.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import time
from typing import Literal

import msgspec

from app import connectors as app_connectors
from app.connectors import oauth_client, oauth_settings
from app.mirror_records import mirror_record
from app.services import Services
from engine.connectors.oauth import (
    PROVIDERS,
    DeviceDenied,
    DevicePending,
    OAuthClient,
    Tokens,
    pkce_pair,
    token_request_error,
)
from engine.errors import EngineError
from engine.rules import Forbidden, Invalid, NotFound
from events import new_id

__all__ = [
    "FLOW_TTL_S",
    "CallbackResult",
    "DeviceStarted",
    "FlowStarted",
    "FlowStatus",
    "ProviderView",
    "callback",
    "device_start",
    "poll",
    "providers",
    "start",
]

log = logging.getLogger(__name__)

_SCOPE = "oauth_flows"
FLOW_TTL_S = 600
"""How long a browser flow waits for its callback."""
_KEPT_S = 600
"""How long an ended flow's outcome stays for the CLI to read."""
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class FlowNotFound(NotFound):
    code = "oauth_flow_not_found"


class _Flow(msgspec.Struct, kw_only=True):
    id: str
    mode: Literal["browser", "device"]
    provider: str
    chapter: str
    actor: str
    library: str | None
    reconnect: str | None = None
    """The connector whose credential the tokens replace (None: a new connector)."""
    expires_at: float
    state_hash: str | None = None
    verifier: str | None = None
    redirect_uri: str | None = None
    device_code: str | None = None
    interval: int = 5
    status: Literal["pending", "exchanging", "connected", "failed"] = "pending"
    connector: str | None = None
    error: str | None = None
    error_code: str | None = None


class ProviderView(msgspec.Struct, frozen=True, kw_only=True):
    """A provider as the web app and CLI see it: whether the operator has configured it."""

    name: str
    kind: str
    title: str
    configured: bool
    device_flow: bool
    """The CLI can sign in with a user code (else it prints a link for a browser)."""
    scopes: list[str]


class FlowStarted(msgspec.Struct, frozen=True, kw_only=True):
    flow: str
    authorize_url: str
    expires_in: int


class DeviceStarted(msgspec.Struct, frozen=True, kw_only=True):
    flow: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    interval: int
    expires_in: int


class FlowStatus(msgspec.Struct, frozen=True, kw_only=True):
    """Where a flow is: `pending` (poll again after `interval` s), `slow_down` (the provider
    asked for longer waits: `interval` has grown), `connected` (`connector` made), `failed`."""

    flow: str
    status: Literal["pending", "slow_down", "connected", "failed"]
    interval: int = 5
    connector: app_connectors.ConnectorView | None = None
    error: str | None = None
    error_code: str | None = None


class CallbackResult(msgspec.Struct, frozen=True, kw_only=True):
    """What the callback did: the chapter to send the browser back to (None when the state
    named no flow), the connector made, or the error code."""

    chapter: str | None
    connector: str | None = None
    error_code: str | None = None


def providers(services: Services) -> list[ProviderView]:
    """Every provider, and whether this server offers it."""
    views = []
    for name, provider in PROVIDERS.items():
        config = oauth_settings(services, name)
        device = provider.device_url if config.device_url is None else config.device_url
        views.append(ProviderView(
            name=name, kind=provider.kind, title=provider.title,
            configured=bool(config.client_id and config.client_secret),
            device_flow=bool(device), scopes=list(provider.scopes),
        ))  # fmt: skip
    return views


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def _save(services: Services, flow: _Flow) -> None:
    await services.accounts.put_secret(_SCOPE, flow.id, msgspec.json.encode(flow).decode())


async def _load(services: Services, flow_id: str) -> _Flow | None:
    if not _ID.match(flow_id):
        return None
    raw = await services.accounts.get_secret(_SCOPE, flow_id)
    return None if raw is None else msgspec.json.decode(raw, type=_Flow)


async def _sweep(services: Services) -> None:
    """Forget flows `_KEPT_S` past their expiry (an ended flow's outcome stays that long for
    the CLI polling it)."""
    now = time.time()
    for name in await services.accounts.secret_names(_SCOPE):
        flow = await _load(services, name)
        if flow is not None and flow.expires_at + _KEPT_S < now:
            await services.accounts.delete_secret(_SCOPE, name)


async def _begin(
    services: Services, chapter: str, provider: str, library: str | None, reconnect: str | None
) -> tuple[OAuthClient, str | None]:
    client = oauth_client(services, provider)
    if await mirror_record(services, chapter) is not None:
        raise Invalid("a live mirror takes no connector: connect it on the owner's chapter")
    if reconnect is not None:
        existing = await app_connectors.read(services, chapter, reconnect)
        if existing.kind != client.provider.kind:
            raise Invalid(f"connector {reconnect} is a {existing.kind} connector, not"
                          f" {client.provider.title}")  # fmt: skip
        if library is not None and library != existing.library:
            raise Invalid("a reconnected connector keeps its library: give none")
        library = existing.library
    library = app_connectors.check_library_of(client.provider.kind, library)
    await _sweep(services)
    return client, library


async def start(
    services: Services, chapter: str, *, actor: str, provider: str, library: str | None,
    redirect_uri: str, reconnect: str | None = None,
) -> FlowStarted:  # fmt: skip
    """A browser flow for `actor` to connect `chapter` to `library` at `provider` (or to
    `reconnect` that connector)."""
    client, library = await _begin(services, chapter, provider, library, reconnect)
    secret = secrets.token_urlsafe(32)
    verifier, challenge = pkce_pair()
    flow = _Flow(
        id=new_id(), mode="browser", provider=provider, chapter=chapter, actor=actor,
        library=library, reconnect=reconnect, expires_at=time.time() + FLOW_TTL_S,
        state_hash=_hash(secret),
        verifier=verifier, redirect_uri=redirect_uri,
    )  # fmt: skip
    await _save(services, flow)
    url = client.authorize_url(state=f"{flow.id}.{secret}", challenge=challenge,
                               redirect_uri=redirect_uri)  # fmt: skip
    return FlowStarted(flow=flow.id, authorize_url=url, expires_in=FLOW_TTL_S)


async def device_start(
    services: Services, chapter: str, *, actor: str, provider: str, library: str | None,
    reconnect: str | None = None,
) -> DeviceStarted:  # fmt: skip
    """A device flow for `actor` to connect `chapter` to `library` at `provider` (or to
    `reconnect` that connector)."""
    client, library = await _begin(services, chapter, provider, library, reconnect)
    if client.device_url is None:
        raise Invalid(
            f"{client.provider.title} offers no device sign-in here: use the link flow"
            f" (POST …/connectors/oauth/{provider}/start)"
        )
    code = await client.device_start()
    flow = _Flow(
        id=new_id(), mode="device", provider=provider, chapter=chapter, actor=actor,
        library=library, reconnect=reconnect, expires_at=time.time() + code.expires_in,
        device_code=code.device_code,
        interval=code.interval,
    )  # fmt: skip
    await _save(services, flow)
    return DeviceStarted(
        flow=flow.id, user_code=code.user_code, verification_uri=code.verification_uri,
        verification_uri_complete=code.verification_uri_complete, interval=code.interval,
        expires_in=code.expires_in,
    )  # fmt: skip


async def _connect(services: Services, flow: _Flow, tokens: Tokens) -> str:
    # The person may have lost the chapter since the flow began.
    await services.books.chapter_access(flow.actor, flow.chapter, "write")
    if flow.reconnect is not None:
        view = await app_connectors.reconnect_oauth(services, flow.chapter, flow.reconnect,
                                                    tokens=tokens)  # fmt: skip
    else:
        view = await app_connectors.configure_oauth(
            services, flow.chapter, actor=flow.actor, kind=PROVIDERS[flow.provider].kind,
            library=flow.library, tokens=tokens,
        )  # fmt: skip
    flow.status, flow.connector = "connected", view.id
    flow.verifier = flow.device_code = None
    await _save(services, flow)
    log.info("oauth flow %s connected chapter %s (%s)", flow.id, flow.chapter, flow.provider)
    return view.id


async def _fail(services: Services, flow: _Flow, code: str, message: str) -> None:
    flow.status, flow.error_code, flow.error = "failed", code, message
    flow.verifier = flow.device_code = None
    await _save(services, flow)
    log.info("oauth flow %s of chapter %s failed: %s", flow.id, flow.chapter, code)


def _code_of(exc: EngineError) -> str:
    if exc.code != EngineError.code:
        return exc.code
    if isinstance(exc, NotFound):
        return "not_found"
    return "forbidden" if isinstance(exc, Forbidden) else "oauth_failed"


async def callback(
    services: Services, *, code: str | None, state: str | None, error: str | None
) -> CallbackResult:
    """The provider's redirect back: the connector made, or why not (never raises for what the
    redirect carried: the browser is always sent back somewhere it can show the outcome)."""
    flow_id, _, secret = (state or "").partition(".")
    flow = await _load(services, flow_id)
    if (
        flow is None
        or flow.mode != "browser"
        or flow.state_hash is None
        or not hmac.compare_digest(flow.state_hash, _hash(secret))
    ):
        return CallbackResult(chapter=None, error_code="oauth_state_invalid")
    if flow.status != "pending":  # single use
        return CallbackResult(chapter=flow.chapter, error_code="oauth_state_used")
    if flow.expires_at < time.time():
        await _fail(services, flow, "oauth_state_expired", "the sign-in took too long; start again")
        return CallbackResult(chapter=flow.chapter, error_code="oauth_state_expired")
    flow.status = "exchanging"
    await _save(services, flow)
    if error or not code:
        reason = token_request_error(error or "no_code")
        await _fail(services, flow, "oauth_denied", f"the provider answered {reason}")
        return CallbackResult(chapter=flow.chapter, error_code="oauth_denied")
    try:
        assert flow.verifier is not None and flow.redirect_uri is not None
        client = oauth_client(services, flow.provider)
        tokens = await client.exchange(code=code, verifier=flow.verifier,
                                       redirect_uri=flow.redirect_uri)  # fmt: skip
        connector = await _connect(services, flow, tokens)
    except EngineError as exc:  # the provider's refusal, or the chapter no longer theirs
        code_ = _code_of(exc)
        await _fail(services, flow, code_, str(exc))
        return CallbackResult(chapter=flow.chapter, error_code=code_)
    return CallbackResult(chapter=flow.chapter, connector=connector)


async def poll(services: Services, chapter: str, flow_id: str, *, actor: str) -> FlowStatus:
    """Where `actor`'s flow is; for a device flow, after one poll of the provider."""
    flow = await _load(services, flow_id)
    if flow is None or flow.chapter != chapter or flow.actor != actor:
        raise FlowNotFound(
            "there is no such sign-in in progress of yours in this chapter (it may have expired)"
        )
    if flow.status == "connected" and flow.connector is not None:
        view = await app_connectors.read(services, chapter, flow.connector)
        return FlowStatus(flow=flow.id, status="connected", connector=view)
    if flow.status == "failed":
        return FlowStatus(flow=flow.id, status="failed", error=flow.error,
                          error_code=flow.error_code)  # fmt: skip
    if flow.expires_at < time.time():
        await _fail(services, flow, "oauth_expired", "the sign-in took too long; start again")
        return FlowStatus(flow=flow.id, status="failed", error=flow.error,
                          error_code=flow.error_code)  # fmt: skip
    if flow.mode == "browser" or flow.status != "pending":
        return FlowStatus(flow=flow.id, status="pending", interval=flow.interval)
    assert flow.device_code is not None
    client = oauth_client(services, flow.provider)
    try:
        answer = await client.device_poll(flow.device_code, flow.interval)
    except DeviceDenied as exc:
        await _fail(services, flow, exc.code, str(exc))
        return FlowStatus(flow=flow.id, status="failed", error=str(exc), error_code=exc.code)
    if isinstance(answer, DevicePending):
        if answer.interval != flow.interval:
            flow.interval = answer.interval
            await _save(services, flow)
        return FlowStatus(flow=flow.id, status="slow_down" if answer.slow_down else "pending",
                          interval=answer.interval)  # fmt: skip
    connector = await _connect(services, flow, answer)
    view = await app_connectors.read(services, chapter, connector)
    return FlowStatus(flow=flow.id, status="connected", connector=view)
