"""The connector half of `AsyncClient`: configure a chapter's connectors, sync them, read their
status, delete them, and push a Zotero directory read on this machine (client/local_library.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from client.models_connectors import ConnectorStatus, HeldItem
from client.wire import convert, items

__all__ = ["CHANGES_PART", "ConnectorCalls"]

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
