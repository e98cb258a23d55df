"""Connectors of a chapter: configure, sync (now, on a schedule, or pushed by the CLI), status,
delete. The engine does the syncing (engine/connectors/); this module keeps each connector's
configuration, credential, cursor and status, and runs syncs.

Storage, in the accounts store (all encrypted at rest with the data directory's key):

- scope `connectors`, name `<id>`: the configuration (kind, chapter, library, base URL, path);
- scope `connector:<id>`, name `credential`: the API key, never returned, logged or put in an
  event or an error;
- scope `connector:<id>`, name `state`: cursor, status, last run, last report, per-item errors.

What a connector brought in is not stored here: it is folded from the chapter's log each sync.

Kinds: `zotero` (the Web API: `library` users/<n> or groups/<n>, an API key, `base_url`
defaulting to `[connectors] zotero_api_url`), `confluence` (`base_url` of the site, the space
key as `library`, an API token and, for Cloud, the account's `email`), `notion` (the
integration's secret; `base_url` defaults to api.notion.com), the two local kinds, `zotero_dir`
(a Zotero data directory) and `obsidian` (an Obsidian vault): with a `path` under the operator's
`[connectors] local_root`, the server reads it itself; without one, the user's CLI reads it on
their machine and pushes its changes (`push`), and the OAuth kinds `google_drive`, `dropbox` and
`onedrive` (a folder as `library`; made by app/oauth.py's flows, never with a pasted key: their
`credential` is the provider's tokens, refreshed as they expire).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import msgspec

from app.mirror_records import mirror_record
from app.services import Services
from app.settings import OAuthClientSettings
from engine.blobs import blob_hash
from engine.connectors import (
    Changes,
    ConnectorError,
    CredentialRejected,
    ItemFailed,
    RemoteItem,
)
from engine.connectors.confluence import Confluence, check_space
from engine.connectors.dropbox import Dropbox, check_dropbox_path
from engine.connectors.google_drive import GoogleDrive, check_folder, throttled
from engine.connectors.http import ServiceClient, check_base_url
from engine.connectors.notion import DEFAULT_BASE_URL as NOTION_BASE_URL
from engine.connectors.notion import NOTION_VERSION, Notion
from engine.connectors.oauth import PROVIDERS, OAuthClient, Provider, Tokens, TokenSource
from engine.connectors.obsidian import ObsidianVault
from engine.connectors.onedrive import OneDrive, check_item
from engine.connectors.sync import (
    ConnectorBusy,
    Held,
    Progress,
    SyncReport,
    held_items,
    known_blobs,
    sync,
)
from engine.connectors.zotero_local import ZoteroLocal
from engine.connectors.zotero_web import ZoteroWeb, check_library
from engine.errors import EngineError
from engine.rules import Conflict, Invalid, NotFound
from events import SourceRemoved, new_id

__all__ = [
    "ConnectorBusy",
    "ConnectorKind",
    "ConnectorNotFound",
    "ConnectorView",
    "Connectors",
    "HeldItem",
    "OAuthNotConfigured",
    "check_library_of",
    "configure",
    "configure_oauth",
    "delete",
    "held",
    "list_connectors",
    "oauth_client",
    "oauth_provider",
    "oauth_settings",
    "push",
    "read",
    "reconnect_oauth",
    "run_sync",
]

log = logging.getLogger(__name__)

ConnectorKind = Literal[
    "zotero",
    "zotero_dir",
    "confluence",
    "notion",
    "obsidian",
    "google_drive",
    "dropbox",
    "onedrive",
]
OAUTH_KINDS = frozenset({"google_drive", "dropbox", "onedrive"})
PROVIDER_OF_KIND = {p.kind: name for name, p in PROVIDERS.items()}
"""The OAuth provider of each OAuth kind (google_drive → google)."""
Status = Literal["new", "running", "ok", "failed", "credential_rejected"]
LOCAL_KINDS: Mapping[str, str] = {"zotero_dir": "--zotero-dir ~/Zotero",
                                  "obsidian": "--obsidian-vault ~/Vault"}  # fmt: skip
"""Kinds reading a folder (the server under its local_root, or the user's CLI), and the CLI's
option that pushes one."""
_SCOPE = "connectors"
_MAX_KEY_CHARS = 512
SCHEDULER_ACTOR = "proc:connectors"


class ConnectorNotFound(NotFound):
    code = "connector_not_found"


class OAuthNotConfigured(Conflict):
    """The operator has not registered a client with this provider."""

    code = "oauth_not_configured"


class _Config(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    chapter: str
    kind: ConnectorKind
    library: str | None = None
    base_url: str | None = None
    path: str | None = None
    email: str | None = None
    created_by: str
    created_at: int


class _State(msgspec.Struct, kw_only=True):
    status: Status = "new"
    cursor: str | None = None
    last_run_at: int | None = None
    last_error: str | None = None
    last_error_code: str | None = None
    report: SyncReport | None = None


class ConnectorView(msgspec.Struct, frozen=True, kw_only=True):
    """A connector as its chapter's members see it: never the credential."""

    id: str
    chapter: str
    kind: ConnectorKind
    library: str | None
    base_url: str | None
    path: str | None
    email: str | None
    """Confluence Cloud: the account the API token belongs to."""
    pushed: bool
    """Its changes come from the user's CLI (`ragstack sync --zotero-dir` or `--obsidian-vault`)."""
    has_credential: bool
    status: Status
    cursor: str | None
    """Where the next sync starts (an OAuth kind's: only the service's own token)."""
    last_run_at: int | None
    """Unix ms of the last sync's end."""
    last_error: str | None
    last_error_code: str | None
    report: SyncReport | None
    """What the last sync did, with its per-item errors."""


class HeldItem(msgspec.Struct, frozen=True, kw_only=True):
    """A source the connector brought in, as the CLI compares it with the local library."""

    ref: str
    source: str
    blob: str
    removed: bool


def _now() -> int:
    return int(time.time() * 1000)


def _scope(connector: str) -> str:
    return f"connector:{connector}"


async def _config(services: Services, chapter: str | None, connector: str) -> _Config:
    raw = await services.accounts.get_secret(_SCOPE, connector)
    if raw is None:
        raise ConnectorNotFound(f"there is no connector {connector} in this chapter")
    config = msgspec.json.decode(raw, type=_Config)
    if chapter is not None and config.chapter != chapter:
        raise ConnectorNotFound(f"there is no connector {connector} in this chapter")
    return config


async def _state(services: Services, connector: str) -> _State:
    raw = await services.accounts.get_secret(_scope(connector), "state")
    return _State() if raw is None else msgspec.json.decode(raw, type=_State)


async def _save_state(services: Services, connector: str, state: _State) -> None:
    await services.accounts.put_secret(
        _scope(connector), "state", msgspec.json.encode(state).decode()
    )


def _public_cursor(kind: str, cursor: str | None) -> str | None:
    """The cursor as the status shows it: an OAuth kind's is JSON holding, besides the service's
    own page token, a map of every file (ids, hashes, folder names) that may run to megabytes;
    only the service's token is shown."""
    if kind not in OAUTH_KINDS or not cursor:
        return cursor
    try:
        decoded = msgspec.json.decode(cursor)
    except msgspec.DecodeError:
        return None
    if not isinstance(decoded, dict):
        return None
    token = decoded.get("token") or decoded.get("cursor") or decoded.get("link")
    return str(token) if token is not None else None


async def _view(services: Services, config: _Config) -> ConnectorView:
    state = await _state(services, config.id)
    report = state.report
    if report is not None and config.kind in OAUTH_KINDS:
        report = msgspec.structs.replace(report, cursor=_public_cursor(config.kind, report.cursor))
    has_key = await services.accounts.get_secret(_scope(config.id), "credential") is not None
    return ConnectorView(
        id=config.id, chapter=config.chapter, kind=config.kind, library=config.library,
        base_url=config.base_url, path=config.path, email=config.email,
        pushed=_pushed(config), has_credential=has_key,
        status=state.status, cursor=_public_cursor(config.kind, state.cursor),
        last_run_at=state.last_run_at, last_error=state.last_error,
        last_error_code=state.last_error_code, report=report,
    )  # fmt: skip


def _pushed(config: _Config) -> bool:
    return config.kind in LOCAL_KINDS and config.path is None


def _local_path(services: Services, kind: str, path: str) -> str:
    root = services.settings.connectors.local_root
    if root is None:
        raise Invalid(
            "this server reads no folder itself (no [connectors] local_root); sync yours from"
            f" your machine with: ragstack sync CHAPTER {LOCAL_KINDS[kind]}"
        )
    base = Path(root).expanduser().resolve()
    full = (base / path).resolve() if not Path(path).is_absolute() else Path(path).resolve()
    if not full.is_relative_to(base):
        raise Invalid(f"the server reads folders only under {base}")
    return str(full)


def _usable_key(api_key: str | None) -> bool:
    # Only whether: the key's text is never repeated in a message (a typo in it is still a secret).
    return bool(api_key and api_key.strip()) and len(api_key or "") <= _MAX_KEY_CHARS


def oauth_settings(services: Services, provider: str) -> OAuthClientSettings:
    """The operator's `[connectors.oauth.<provider>]`."""
    return getattr(services.settings.connectors.oauth, provider)  # type: ignore[no-any-return]


def oauth_provider(name: str) -> Provider:
    """The provider called `name`; NotFound for another."""
    found = PROVIDERS.get(name)
    if found is None:
        raise NotFound(f"there is no OAuth provider {name!r}: use google, dropbox or microsoft")
    return found


def oauth_client(services: Services, name: str) -> OAuthClient:
    """The operator's client at provider `name`; OAuthNotConfigured naming the missing setting."""
    provider, config = oauth_provider(name), oauth_settings(services, name)
    for field in ("client_id", "client_secret"):
        if not getattr(config, field):
            raise OAuthNotConfigured(
                f"{provider.title} is not set up on this server: its operator must register an"
                f" OAuth client and set [connectors.oauth.{name}] {field} (or"
                f" RAGSTACK_CONNECTORS_OAUTH_{name.upper()}_{field.upper()})"
            )
    return OAuthClient(
        provider, client_id=str(config.client_id), client_secret=config.client_secret,
        auth_url=config.auth_url, token_url=config.token_url, device_url=config.device_url,
        allow_private=services.settings.web.allow_private_addresses,
    )  # fmt: skip


def check_library_of(kind: str, library: str | None) -> str | None:
    """An OAuth kind's library, checked: a Drive folder id (default `root`, My Drive), a Dropbox
    folder path ("" its root), a OneDrive folder's item id (None: the drive's root)."""
    if kind == "google_drive":
        return check_folder(library or "root")
    if kind == "dropbox":
        return check_dropbox_path(library or "")
    if kind == "onedrive":
        return check_item(library) if library else None
    raise Invalid(f"{kind} is not a kind connected with OAuth")


# -- commands ----------------------------------------------------------------------------------


async def configure(
    services: Services,
    chapter: str,
    *,
    actor: str,
    kind: ConnectorKind,
    library: str | None = None,
    api_key: str | None = None,
    base_url: str | None = None,
    path: str | None = None,
    email: str | None = None,
) -> ConnectorView:
    """A new connector of `chapter`; Invalid for a configuration that cannot work."""
    if await mirror_record(services, chapter) is not None:
        # A mirror holds the owner's chapter as it is; its sources come from the owner's log.
        raise Invalid("a live mirror takes no connector: configure it on the owner's chapter")
    if kind == "zotero":
        if library is None:
            raise Invalid("a Zotero connector needs its `library`: users/<id> or groups/<id>")
        library = check_library(library)
        base_url = check_base_url(base_url or services.settings.connectors.zotero_api_url)
        if not _usable_key(api_key):
            raise Invalid("a Zotero connector needs its `api_key` (zotero.org/settings/keys)")
        if path is not None:
            raise Invalid("a Zotero Web API connector takes no `path`")
    elif kind == "confluence":
        if library is None or base_url is None:
            raise Invalid(
                "a Confluence connector needs its `base_url` (https://<site>.atlassian.net/wiki"
                " or your server's) and its space key as `library`"
            )
        library, base_url = check_space(library), check_base_url(base_url)
        if not _usable_key(api_key):
            raise Invalid("a Confluence connector needs its `api_key` (an API or access token)")
        if path is not None:
            raise Invalid("a Confluence connector takes no `path`")
        if email is not None and ("@" not in email or len(email) > 320):
            raise Invalid("`email` must be the e-mail address of the token's account")
    elif kind == "notion":
        base_url = check_base_url(base_url or NOTION_BASE_URL)
        if not _usable_key(api_key):
            raise Invalid("a Notion connector needs its `api_key` (the integration's secret)")
        if library is not None or path is not None:
            raise Invalid("a Notion connector reads the pages shared with its integration: no"
                          " `library` or `path`")  # fmt: skip
    elif kind in OAUTH_KINDS:
        provider = PROVIDER_OF_KIND[kind]
        raise Invalid(
            f"a {kind} connector is connected by signing in, not with a key: POST"
            f" /v1/chapters/{{chapter}}/connectors/oauth/{provider}/start (the web app's Connect"
            f" button) or `ragstack connector connect CHAPTER --provider {provider}`"
        )
    elif kind in LOCAL_KINDS:
        if library is not None or api_key is not None or base_url is not None:
            what = "a Zotero directory" if kind == "zotero_dir" else "an Obsidian vault"
            raise Invalid(f"{what} connector takes only an optional `path`")
        if path is not None:
            path = _local_path(services, kind, path)
    else:
        raise Invalid(
            f"unknown connector kind {kind!r}: use zotero, zotero_dir, confluence, notion or"
            " obsidian"
        )
    if email is not None and kind != "confluence":
        raise Invalid("only a Confluence connector takes an `email`")
    config = _Config(id=new_id(), chapter=chapter, kind=kind, library=library, base_url=base_url,
                     path=path, email=email, created_by=actor, created_at=_now())  # fmt: skip
    if api_key is not None:
        await services.accounts.put_secret(_scope(config.id), "credential", api_key.strip())
    await services.accounts.put_secret(_SCOPE, config.id, msgspec.json.encode(config).decode())
    return await _view(services, config)


async def configure_oauth(
    services: Services, chapter: str, *, actor: str, kind: ConnectorKind, library: str | None,
    tokens: Tokens,
) -> ConnectorView:  # fmt: skip
    """A new OAuth connector of `chapter`, its tokens put in the secret box (app/oauth.py's
    flows call it once the provider has issued them)."""
    if kind not in OAUTH_KINDS:
        raise Invalid(f"{kind} is not a kind connected with OAuth")
    if await mirror_record(services, chapter) is not None:
        raise Invalid("a live mirror takes no connector: configure it on the owner's chapter")
    config = _Config(id=new_id(), chapter=chapter, kind=kind,
                     library=check_library_of(kind, library), created_by=actor,
                     created_at=_now())  # fmt: skip
    await services.accounts.put_secret(
        _scope(config.id), "credential", msgspec.json.encode(tokens).decode()
    )
    await services.accounts.put_secret(_SCOPE, config.id, msgspec.json.encode(config).decode())
    return await _view(services, config)


async def reconnect_oauth(
    services: Services, chapter: str, connector: str, *, tokens: Tokens
) -> ConnectorView:
    """New tokens for an OAuth connector whose sign-in was refused: its library, cursor and
    sources stay; a `credential_rejected` status becomes `new` until the next sync."""
    config = await _config(services, chapter, connector)
    if config.kind not in OAUTH_KINDS:
        raise Invalid(f"connector {connector} is not connected by signing in")
    async with services.syncs.lock(config.id):  # never under a running sync's feet
        await services.accounts.put_secret(
            _scope(config.id), "credential", msgspec.json.encode(tokens).decode()
        )
        state = await _state(services, config.id)
        if state.status == "credential_rejected":
            state.status, state.last_error, state.last_error_code = "new", None, None
            await _save_state(services, config.id, state)
    return await _view(services, config)


async def _oauth_remote(
    services: Services, config: _Config, credential: str, known: Mapping[str, str]
) -> tuple[object, ServiceClient, TokenSource]:
    """An OAuth connector's lister, its client, and the token source that keeps it signed in
    (refreshed tokens are saved as soon as they are issued)."""
    name = PROVIDER_OF_KIND[config.kind]
    client_ = oauth_client(services, name)
    settings = oauth_settings(services, name)
    try:
        tokens = msgspec.json.decode(credential, type=Tokens)
    except msgspec.DecodeError:
        raise CredentialRejected("the connector's sign-in is unreadable; reconnect it") from None

    async def save(new: Tokens) -> None:
        await services.accounts.put_secret(
            _scope(config.id), "credential", msgspec.json.encode(new).decode()
        )

    source = TokenSource(client_, tokens, save)
    provider = client_.provider
    http = ServiceClient(settings.api_url or provider.api_url, service=provider.title,
                         headers={}, auth=source,
                         throttled=throttled if config.kind == "google_drive" else None,
                         allow_private=services.settings.web.allow_private_addresses)  # fmt: skip
    remote: object
    if config.kind == "google_drive":
        remote = GoogleDrive(http, config.library or "root").with_known(known)
    elif config.kind == "dropbox":
        content = settings.content_url or provider.content_url or provider.api_url
        remote = Dropbox(http, config.library or "", content_url=content).with_known(known)
    else:
        remote = OneDrive(http, config.library).with_known(known)
    return remote, http, source


async def list_connectors(services: Services, chapter: str | None = None) -> list[ConnectorView]:
    """The connectors of `chapter` (None: of every chapter), oldest first."""
    views = []
    for name in await services.accounts.secret_names(_SCOPE):
        with contextlib.suppress(ConnectorNotFound):
            config = await _config(services, chapter, name)
            views.append(await _view(services, config))
    return sorted(views, key=lambda v: v.id)


async def read(services: Services, chapter: str, connector: str) -> ConnectorView:
    """One connector's configuration and status."""
    return await _view(services, await _config(services, chapter, connector))


async def delete(
    services: Services, chapter: str, connector: str, *, actor: str, remove_sources: bool = False
) -> int | None:
    """Stop and forget a connector; its sources stay unless `remove_sources` (returns the last
    rev appended then, else None)."""
    config = await _config(services, chapter, connector)
    rev = None
    if remove_sources:
        chapter_log = services.logs.chapter(chapter)
        for item in (await held_items(chapter_log, services.blobs, config.id)).values():
            if not item.removed:
                rev = (await chapter_log.append(SourceRemoved(source=item.source), actor=actor)).rev
    await services.accounts.delete_secret(_scope(config.id), "credential")
    await services.accounts.delete_secret(_scope(config.id), "state")
    await services.accounts.delete_secret(_SCOPE, config.id)
    services.syncs.forget(config.id)
    return rev


async def _held(services: Services, config: _Config) -> Mapping[str, Held]:
    return await services.syncs.held(
        services.logs.chapter(config.chapter), services.blobs, config.id
    )


async def held(services: Services, chapter: str, connector: str) -> list[HeldItem]:
    """What the connector has brought into the chapter, by ref (for the CLI's comparison)."""
    config = await _config(services, chapter, connector)
    found = await _held(services, config)
    return [
        HeldItem(ref=h.ref, source=h.source, blob=h.blob, removed=h.removed)
        for h in sorted(found.values(), key=lambda h: h.ref)
    ]


async def _run(
    services: Services, config: _Config, connector: object, *, actor: str,
    progress: Progress | None = None, keep_cursor: bool = False, settle: bool = True,
) -> ConnectorView:  # fmt: skip
    async with services.syncs.exclusive(config.id):
        state = await _state(services, config.id)
        state.status = "running"
        await _save_state(services, config.id, state)
        try:
            report = await sync(
                connector,  # type: ignore[arg-type]  # each kind implements engine's Connector
                services.logs.chapter(config.chapter),
                services.blobs,
                connector_id=config.id,
                actor=actor,
                cursor=state.cursor,
                max_size=services.settings.limits.upload_bytes,
                progress=progress,
                held=await _held(services, config),
            )
        except ConnectorError as exc:
            state.status = (
                "credential_rejected" if isinstance(exc, CredentialRejected) else "failed"
            )
            state.last_error, state.last_error_code = str(exc), exc.code
            state.last_run_at = _now()
            await _save_state(services, config.id, state)
            log.warning("connector %s of chapter %s: %s", config.id, config.chapter, exc.code)
            raise
        except BaseException:
            state.status = "failed"
            state.last_error, state.last_error_code = "the sync stopped unexpectedly", "internal"
            await _save_state(services, config.id, state)
            raise
        if not keep_cursor and report.cursor is not None:
            state.cursor = report.cursor
        state.status, state.last_error, state.last_error_code = "ok", None, None
        state.last_run_at, state.report = _now(), report
        await _save_state(services, config.id, state)
    if settle and report.rev is not None:
        await services.settled(config.chapter, report.rev)
    return await _view(services, config)


async def run_sync(
    services: Services, chapter: str | None, connector: str, *, actor: str,
    progress: Progress | None = None,
) -> ConnectorView:  # fmt: skip
    """Sync a connector the server reaches itself, now; its status after."""
    config = await _config(services, chapter, connector)
    if _pushed(config):
        raise Invalid(
            "this connector is synced from the user's machine: ragstack sync"
            f" {config.chapter} --connector {config.id} {LOCAL_KINDS[config.kind]}"
        )
    known = known_blobs(await _held(services, config))
    if config.kind in LOCAL_KINDS:
        assert config.path is not None
        reader = (ZoteroLocal(config.path) if config.kind == "zotero_dir"
                  else ObsidianVault(config.path)).with_known(known)  # fmt: skip
        return await _run(services, config, reader, actor=actor, progress=progress)
    key = await services.accounts.get_secret(_scope(config.id), "credential")
    if key is None:
        raise Invalid("this connector has no API key; configure it again with one")
    if config.kind in OAUTH_KINDS:
        remote_, http, _ = await _oauth_remote(services, config, key, known)
        try:
            return await _run(services, config, remote_, actor=actor, progress=progress)
        finally:
            await http.close()
    assert config.base_url is not None
    allow_private = services.settings.web.allow_private_addresses
    remote: object
    if config.kind == "notion":
        client = ServiceClient(config.base_url, service="Notion", allow_private=allow_private,
                               headers={"Authorization": f"Bearer {key}",
                                        "Notion-Version": NOTION_VERSION})  # fmt: skip
        remote = Notion(client).with_known(known)
    elif config.kind == "confluence":
        assert config.library is not None
        # Cloud: the token with its account's e-mail (Basic); Data Center: a personal token.
        auth = (f"Basic {base64.b64encode(f'{config.email}:{key}'.encode()).decode()}"
                if config.email else f"Bearer {key}")  # fmt: skip
        client = ServiceClient(config.base_url, service="Confluence", allow_private=allow_private,
                               headers={"Authorization": auth, "Accept": "application/json"})  # fmt: skip
        remote = Confluence(client, config.library).with_known(known)
    else:
        assert config.library is not None
        client = ServiceClient(config.base_url, service="Zotero", allow_private=allow_private,
                               headers={"Zotero-API-Key": key, "Zotero-API-Version": "3"})  # fmt: skip
        remote = ZoteroWeb(client, config.library)
    try:
        return await _run(services, config, remote, actor=actor, progress=progress)
    finally:
        await client.close()


class _Pushed:
    """The Connector over what the CLI sent: its changes, and the files it uploaded. Its sources'
    origin is the library's (`zotero`, `obsidian`)."""

    def __init__(self, kind: str, changes: Changes, files: Mapping[str, bytes]) -> None:
        self.kind = kind
        self._changes, self._files = changes, files

    async def changes(self, cursor: str | None) -> Changes:
        return self._changes

    async def fetch(self, item: RemoteItem) -> bytes:
        data = self._files.get(item.blob or "")
        if data is None:
            raise ItemFailed("not_uploaded", f"{item.name}'s bytes were not sent with the sync")
        return data


async def push(
    services: Services, chapter: str, connector: str, *, actor: str, changes: Changes,
    files: Mapping[str, bytes],
) -> ConnectorView:  # fmt: skip
    """Apply changes the user's CLI read from its own Zotero directory or Obsidian vault; `files`
    are the bytes it sent, by BLAKE3 hash (each checked). A batch without a cursor leaves the
    cursor alone."""
    config = await _config(services, chapter, connector)
    if not _pushed(config):
        raise Invalid("only a connector synced from the user's machine takes pushed changes")
    for digest, data in files.items():
        if blob_hash(data) != digest:
            raise Invalid(f"a file sent as {digest} has other bytes (its hash differs)")
    # A push without a cursor is a batch before the last: the CLI reads nothing between
    # batches, so only the last waits for the read models (read-your-writes).
    last = changes.cursor is not None
    return await _run(
        services,
        config,
        _Pushed(_ORIGINS[config.kind], changes, files),
        actor=actor,
        keep_cursor=not last,
        settle=last,
    )


_ORIGINS = {"zotero_dir": ZoteroLocal.kind, "obsidian": ObsidianVault.kind}
"""The origin a pushed library's sources carry (the reader's, as when the server reads it)."""


class Connectors:
    """The worker's scheduled syncs: every `[connectors] sync_interval_s`, each connector the
    server reaches itself, one after another. A failure is recorded on its status and logged."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.services.settings.connectors.sync_interval_s > 0:
            self._task = asyncio.create_task(self._forever(), name="connector-syncs")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def sync_all(self) -> list[str]:
        """One round over every connector the server reaches itself; what failed."""
        failed: list[str] = []
        runner = self.services.read.runner
        for view in await list_connectors(self.services):
            # A chapter's scheduled sync is one of its singletons: only its lease holder runs it
            # (with several workers, two syncing one connector at once could add an item twice).
            if view.pushed or not runner.holds(view.chapter):
                continue
            try:
                await run_sync(self.services, None, view.id, actor=SCHEDULER_ACTOR)
            except EngineError as exc:  # recorded on its status (or its chapter is gone)
                failed.append(f"{view.id}: {exc}")
        return failed

    async def _forever(self) -> None:
        interval = self.services.settings.connectors.sync_interval_s
        while True:
            await asyncio.sleep(interval)
            try:
                await self.sync_all()
            except Exception:
                log.exception("the scheduled connector syncs failed")
