"""The connector half of `AsyncClient`: configure a chapter's connectors, sync them, read their
status, delete them, push a Zotero directory or an Obsidian vault read on this machine
(client/local_library.py), and connect Google Drive, Dropbox or OneDrive by signing in
(`connect_oauth`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from client.errors import ApiError
from client.models_connectors import (
    ConnectorStatus,
    HeldItem,
    OAuthDeviceStarted,
    OAuthFlowStatus,
    OAuthProvider,
    OAuthStarted,
)
from client.wire import convert, items

__all__ = ["CHANGES_PART", "ConnectorCalls", "SignIn"]

SignIn = Callable[[OAuthStarted | OAuthDeviceStarted], None]
"""Shows the person where to sign in (the link, or the link and the code)."""
Waiting = Callable[[OAuthFlowStatus], None]
"""Told each poll's answer while the sign-in is pending."""

T = TypeVar("T")
CHANGES_PART = "changes.json"
"""The file part of a push that carries the changes (gateway/routes/connectors.py)."""


class ConnectorCalls:
    """Mixed into `AsyncClient`, which provides `request` and `_typed`."""

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        raise NotImplementedError

    async def _typed(self, kind: type[T], method: str, path: str, **kwargs: Any) -> T:
        raise NotImplementedError

    async def create_connector(
        self, chapter: str, *, kind: str, library: str | None = None,
        api_key: str | None = None, base_url: str | None = None, path: str | None = None,
        email: str | None = None,
    ) -> ConnectorStatus:  # fmt: skip
        """Configure a connector: `zotero` (library users/<n> or groups/<n>, api_key),
        `confluence` (base_url, library = the space key, api_key, email for Cloud) or
        `notion` (api_key), `zotero_dir` or `obsidian` (a path under the server's root, or none:
        synced from this machine)."""
        body = {"kind": kind, "library": library, "api_key": api_key, "base_url": base_url,
                "path": path, "email": email}  # fmt: skip
        body = {k: v for k, v in body.items() if v is not None}
        path_ = f"/v1/chapters/{chapter}/connectors"
        return await self._typed(ConnectorStatus, "POST", path_, json_body=body)

    async def connectors(self, chapter: str) -> list[ConnectorStatus]:
        """The chapter's connectors and their status."""
        data = await self.request("GET", f"/v1/chapters/{chapter}/connectors")
        return convert(items(data, "connectors"), list[ConnectorStatus])

    async def connector(self, chapter: str, connector: str) -> ConnectorStatus:
        """One connector's status, cursor, last run and per-item errors."""
        path = f"/v1/chapters/{chapter}/connectors/{connector}"
        return await self._typed(ConnectorStatus, "GET", path)

    async def sync_connector(self, chapter: str, connector: str) -> ConnectorStatus:
        """Sync a connector the server reaches itself, now; its status once it ends."""
        path = f"/v1/chapters/{chapter}/connectors/{connector}/sync"
        return await self._typed(ConnectorStatus, "POST", path, slow=True)

    async def delete_connector(
        self, chapter: str, connector: str, *, remove_sources: bool = False
    ) -> None:
        """Stop and forget a connector; its sources stay unless `remove_sources`."""
        await self.request(
            "DELETE",
            f"/v1/chapters/{chapter}/connectors/{connector}",
            params={"remove_sources": "true"} if remove_sources else None,
        )

    async def connector_items(self, chapter: str, connector: str) -> list[HeldItem]:
        """What the connector brought into the chapter, by remote ref."""
        data = await self.request("GET", f"/v1/chapters/{chapter}/connectors/{connector}/items")
        return convert(items(data, "items"), list[HeldItem])

    async def push_connector_items(
        self, chapter: str, connector: str, *, changes: bytes, files: Mapping[str, bytes]
    ) -> ConnectorStatus:
        """Send changes read on this machine (JSON of engine.connectors.Changes) with the new
        bytes, each named by its BLAKE3 hash; the connector's status after."""
        parts = [("file", (CHANGES_PART, changes, "application/json"))]
        parts += [("file", (digest, data, "application/octet-stream"))
                  for digest, data in files.items()]  # fmt: skip
        path = f"/v1/chapters/{chapter}/connectors/{connector}/items"
        return await self._typed(ConnectorStatus, "POST", path, files=parts, slow=True)

    async def oauth_providers(self) -> list[OAuthProvider]:
        """The services a chapter can be connected to by signing in, and whether the server's
        operator has set each up."""
        data = await self.request("GET", "/v1/connectors/oauth/providers")
        return convert(items(data, "providers"), list[OAuthProvider])

    async def start_oauth(
        self, chapter: str, provider: str, *, library: str | None = None,
        reconnect: str | None = None,
    ) -> OAuthStarted:  # fmt: skip
        """Begin a browser sign-in: open `authorize_url`; the server makes the connector (or
        gives `reconnect`, a connector whose sign-in was refused, its new tokens) when the
        provider sends the browser back. 409 oauth_not_configured if the operator has not set
        the provider up."""
        path = f"/v1/chapters/{chapter}/connectors/oauth/{provider}/start"
        body = {"library": library, "connector": reconnect}
        return await self._typed(OAuthStarted, "POST", path, json_body=body)

    async def start_oauth_device(
        self, chapter: str, provider: str, *, library: str | None = None,
        reconnect: str | None = None,
    ) -> OAuthDeviceStarted:  # fmt: skip
        """Begin a device sign-in (RFC 8628): show `user_code` and `verification_uri`."""
        path = f"/v1/chapters/{chapter}/connectors/oauth/{provider}/device"
        body = {"library": library, "connector": reconnect}
        return await self._typed(OAuthDeviceStarted, "POST", path, json_body=body)

    async def poll_oauth(self, chapter: str, flow: str) -> OAuthFlowStatus:
        """Where a sign-in is (a device flow's provider is polled once per call)."""
        path = f"/v1/chapters/{chapter}/connectors/oauth/flows/{flow}/poll"
        return await self._typed(OAuthFlowStatus, "POST", path)

    async def connect_oauth(
        self, chapter: str, provider: str, *, library: str | None = None,
        reconnect: str | None = None, sign_in: SignIn, waiting: Waiting | None = None,
        browser: bool = False,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> ConnectorStatus:  # fmt: skip
        """Connect `chapter` to `library` at `provider` (or sign `reconnect`, a connector whose
        sign-in was refused, in again) and return the connector: a device
        sign-in where the provider offers one (unless `browser`), else a link for a browser.
        `sign_in` shows the person what to do; the flow is polled every `interval` seconds
        (longer after the provider's `slow_down`) until it is connected or fails (ApiError
        with the flow's error code)."""
        offered = {p.name: p for p in await self.oauth_providers()}
        device = not browser and provider in offered and offered[provider].device_flow
        started: OAuthStarted | OAuthDeviceStarted = (
            await self.start_oauth_device(chapter, provider, library=library, reconnect=reconnect)
            if device
            else await self.start_oauth(chapter, provider, library=library, reconnect=reconnect)
        )  # fmt: skip
        sign_in(started)
        interval = started.interval if isinstance(started, OAuthDeviceStarted) else 2
        while True:
            await sleep(interval)
            status = await self.poll_oauth(chapter, started.flow)
            if status.status == "connected" and status.connector is not None:
                return status.connector
            if status.status == "failed":
                raise ApiError(400, status.error_code or "oauth_failed",
                               status.error or "the sign-in failed")  # fmt: skip
            if waiting is not None:
                waiting(status)
            if isinstance(started, OAuthDeviceStarted):
                interval = max(interval, status.interval)
