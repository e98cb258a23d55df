"""OneDrive (and SharePoint document libraries) through Microsoft Graph: one folder of the
signed-in person's drive, kept in step with its delta query.

- `GET /me/drive/items/<id>/delta` (or `/me/drive/root/delta` for the whole drive), following
  `@odata.nextLink` until the `@odata.deltaLink`, which is the next sync's start (kept in our
  cursor). The first query lists the whole folder (`complete`).
- An item with a `deleted` facet is removed; a deleted folder takes every file held under it
  (the folder → parent map and each file's parent are kept in the cursor, since Graph does not
  always list a deleted folder's children). A folder renamed or moved changes the
  `collection:` tag of everything under it, which the delta does not list again: the folder is
  then listed from scratch.
- Subfolders are collections: `<folder>/Reports/2026/a.pdf` carries `collection:/Reports/2026`;
  its title is its name, so a rename is a `SourceDescribed`.
- Bytes: `GET /me/drive/items/<id>/content` (a redirect to a pre-authenticated URL, which httpx
  follows without our Authorization header). `file.hashes` (quickXorHash, sha256Hash or
  sha1Hash; else the `cTag`) is kept per file: a file whose hash did not change is not
  downloaded again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

import msgspec

from engine.connectors import Changes, ConnectorError, ItemFailed, RemoteItem
from engine.connectors.http import ServiceClient
from engine.rules import Invalid
from events import SourceMeta

__all__ = ["OneDrive", "check_item"]

_ITEM = re.compile(r"^[A-Za-z0-9!_.-]{1,200}$")


def check_item(item: str) -> str:
    """A drive item id (it is put in a URL path)."""
    item = item.strip()
    if not _ITEM.match(item):
        raise Invalid("a OneDrive `library` is a folder's item id (empty: the whole drive)")
    return item


class _Cursor(msgspec.Struct, kw_only=True):
    link: str
    """Graph's `@odata.deltaLink`."""
    top: str
    """The library folder's item id."""
    folders: dict[str, tuple[str, str]] = {}
    """Folder id → (name, parent id)."""
    files: dict[str, tuple[str, str]] = {}
    """File id → (parent id, hash when last listed)."""


def _fingerprint(item: Mapping[str, Any]) -> str:
    hashes = (item.get("file") or {}).get("hashes") or {}
    for name in ("quickXorHash", "sha256Hash", "sha1Hash"):
        if hashes.get(name):
            return f"{name}:{hashes[name]}"
    return f"ctag:{item.get('cTag', '')}"


class OneDrive:
    """The Connector over one OneDrive folder."""

    kind: ClassVar[str] = "onedrive"

    def __init__(self, client: ServiceClient, item: str | None) -> None:
        self.client = client
        self.item = check_item(item) if item else None
        self.known: Mapping[str, str] = {}

    def with_known(self, known: Mapping[str, str]) -> OneDrive:
        """The refs the chapter holds, with their blobs: unchanged files keep theirs."""
        self.known = dict(known)
        return self

    def _start(self) -> str:
        return f"/me/drive/items/{self.item}/delta" if self.item else "/me/drive/root/delta"

    async def _delta(self, url: str) -> tuple[list[dict[str, Any]], str]:
        items: list[dict[str, Any]] = []
        while True:
            answer = (await self.client.get(url)).json()
            if not isinstance(answer, dict):
                raise ConnectorError("Microsoft Graph answered with something else than JSON")
            items += [i for i in answer.get("value", []) if isinstance(i, dict) and i.get("id")]
            if answer.get("@odata.deltaLink"):
                return items, str(answer["@odata.deltaLink"])
            if not answer.get("@odata.nextLink"):
                raise ConnectorError("Microsoft Graph ended a delta without its deltaLink")
            url = str(answer["@odata.nextLink"])

    async def changes(self, cursor: str | None) -> Changes:
        state = msgspec.json.decode(cursor, type=_Cursor) if cursor else None
        if state is None:
            return await self._full()
        listed, link = await self._delta(state.link)
        folders, files = dict(state.folders), dict(state.files)
        live: dict[str, dict[str, Any]] = {}
        gone: set[str] = set()
        for item in listed:
            item_id = str(item["id"])
            if item.get("deleted"):
                gone.add(item_id)
                live.pop(item_id, None)
                if item_id in folders:
                    del folders[item_id]
                    under = {
                        f
                        for f, (parent, _) in files.items()
                        if _path(folders, state.top, parent) is None
                    }
                    gone |= under
                continue
            parent = str((item.get("parentReference") or {}).get("id", ""))
            if "folder" in item and item_id != state.top:
                before = folders.get(item_id)
                if before is not None and before != (str(item.get("name", "")), parent):
                    return await self._full()  # renamed or moved: every tag under it changes
                folders[item_id] = (str(item.get("name", "")), parent)
            elif "file" in item:
                live[item_id] = item
                gone.discard(item_id)
        items = []
        for item_id, item in live.items():
            parent = str((item.get("parentReference") or {}).get("id", ""))
            path = _path(folders, state.top, parent)
            if path is None:  # moved out of the folder
                gone.add(item_id)
                continue
            items.append(self.map(item, path, files))
            files[item_id] = (parent, _fingerprint(item))
        for item_id in gone:
            files.pop(item_id, None)
        after = _Cursor(link=link, top=state.top, folders=folders, files=files)
        return Changes(items=items, deleted=sorted(g for g in gone if g in self.known),
                       cursor=msgspec.json.encode(after).decode())  # fmt: skip

    async def _full(self) -> Changes:
        listed, link = await self._delta(self._start())
        top = self.item or next((str(i["id"]) for i in listed if "root" in i), "")
        if not top:
            raise ConnectorError("Microsoft Graph listed the drive without its root")
        folders: dict[str, tuple[str, str]] = {}
        for item in listed:
            if "folder" in item and not item.get("deleted") and str(item["id"]) != top:
                parent = str((item.get("parentReference") or {}).get("id", ""))
                folders[str(item["id"])] = (str(item.get("name", "")), parent)
        files: dict[str, tuple[str, str]] = {}
        items = []
        for item in listed:
            if "file" not in item or item.get("deleted"):
                continue
            parent = str((item.get("parentReference") or {}).get("id", ""))
            path = _path(folders, top, parent)
            if path is not None:
                items.append(self.map(item, path, {}))
                files[str(item["id"])] = (parent, _fingerprint(item))
        cursor = _Cursor(link=link, top=top, folders=folders, files=files)
        return Changes(items=items, cursor=msgspec.json.encode(cursor).decode(), complete=True)

    def map(
        self, item: Mapping[str, Any], path: str, files: Mapping[str, tuple[str, str]]
    ) -> RemoteItem:
        """A file as a RemoteItem (its blob kept when its hash did not change)."""
        ref, name = str(item["id"]), str(item.get("name") or "untitled")
        before = files.get(ref)
        same = ref in self.known and before is not None and before[1] == _fingerprint(item)
        modified = str(item.get("lastModifiedDateTime", ""))
        return RemoteItem(
            ref=ref, name=name,
            media_type=str((item.get("file") or {}).get("mimeType") or "application/octet-stream"),
            tags=[f"collection:{path}"] if path else [],
            meta=SourceMeta(title=name, year=int(modified[:4]) if modified[:4].isdigit() else None),
            blob=self.known[ref] if same else None,
        )  # fmt: skip

    async def fetch(self, item: RemoteItem) -> bytes:
        response = await self.client.get(f"/me/drive/items/{item.ref}/content",
                                          ok=(200, 403, 404, 410))  # fmt: skip
        if response.status_code != 200:
            raise ItemFailed("unreadable",
                             f"OneDrive refuses to give {item.name} (HTTP {response.status_code})")  # fmt: skip
        return response.content


def _path(folders: Mapping[str, tuple[str, str]], top: str, folder: str) -> str | None:
    """`folder`'s path under the library folder `top` ("" for `top`), None outside it."""
    names: list[str] = []
    while folder != top:
        if folder not in folders or len(names) > 256:
            return None
        name, folder = folders[folder]
        names.append(name.replace("/", "∕"))
    return "".join(f"/{n}" for n in reversed(names))
