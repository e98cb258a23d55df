"""Dropbox: one folder (and everything under it) of a person's Dropbox, through API v2.

- `POST /2/files/list_folder` (`recursive`, `include_deleted`), then
  `POST /2/files/list_folder/continue` while `has_more`; Dropbox's own cursor is kept in ours,
  so the next sync continues from it and sees only what changed. The first listing is the whole
  library (`complete`).
- Entries are applied in order, as Dropbox asks: a `file` maps its path to its `id` (the ref,
  stable across renames and moves); a `deleted` entry names only a path, so the path → id map is
  kept in the cursor, and a deleted folder takes every file under it. A move is a `deleted` of
  the old path and a `file` at the new one with the same id: the source stays, retagged and
  renamed. Folders themselves are not sources.
- Subfolders are collections: `<library>/Reports/2026/a.pdf` carries `collection:/Reports/2026`;
  its title is its name, so a rename is a `SourceDescribed`.
- Bytes: `POST /2/files/download` on the content host, the file named in the
  `Dropbox-API-Arg` header. `content_hash` (Dropbox's hash of 4 MiB blocks) is kept per file in
  the cursor: a file whose hash did not change is not downloaded again.
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Mapping
from typing import Any, ClassVar

import msgspec

from engine.connectors import Changes, ConnectorError, ItemFailed, RemoteItem
from engine.connectors.http import ServiceClient
from engine.rules import Invalid
from events import SourceMeta

__all__ = ["Dropbox", "check_dropbox_path"]


def check_dropbox_path(path: str) -> str:
    """A Dropbox folder path: "" (the whole Dropbox) or `/Folder/Sub`, without a trailing slash."""
    path = path.strip().rstrip("/")
    if path and (not path.startswith("/") or len(path) > 1000 or "//" in path):
        raise Invalid("a Dropbox `library` is a folder's path, like /Research (empty: all of it)")
    return path


class _Cursor(msgspec.Struct, kw_only=True):
    cursor: str
    """Dropbox's list_folder cursor."""
    paths: dict[str, str] = {}
    """path_lower → file id, for deleted entries (they name a path only)."""
    versions: dict[str, str] = {}
    """File id → content_hash when last listed."""


class Dropbox:
    """The Connector over one Dropbox folder."""

    kind: ClassVar[str] = "dropbox"

    def __init__(self, client: ServiceClient, folder: str, *, content_url: str) -> None:
        self.client = client
        self.folder = check_dropbox_path(folder)
        self.content_url = content_url.rstrip("/")
        self.known: Mapping[str, str] = {}

    def with_known(self, known: Mapping[str, str]) -> Dropbox:
        """The refs the chapter holds, with their blobs: unchanged files keep theirs."""
        self.known = dict(known)
        return self

    async def _call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.client.post(path, json=body, ok=(200, 409))
        answer = response.json()
        if response.status_code == 409:  # an API error: its summary says which
            summary = str(answer.get("error_summary", "")) if isinstance(answer, dict) else ""
            if summary.startswith("reset"):
                raise _Reset
            raise ConnectorError(f"Dropbox refused to list {self.folder or 'the Dropbox'}"
                                 f" ({summary[:100] or 'HTTP 409'})")  # fmt: skip
        if not isinstance(answer, dict):
            raise ConnectorError("Dropbox answered with something else than a JSON object")
        return answer

    async def changes(self, cursor: str | None) -> Changes:
        state = msgspec.json.decode(cursor, type=_Cursor) if cursor else None
        if state is not None:
            try:
                return await self._list(state, complete=False)
            except _Reset:  # Dropbox expired the cursor: list everything again
                pass
        return await self._list(None, complete=True)

    async def _list(self, state: _Cursor | None, *, complete: bool) -> Changes:
        if state is None:
            answer = await self._call("/2/files/list_folder", {
                "path": self.folder, "recursive": True, "include_deleted": False, "limit": 2000,
            })  # fmt: skip
            state = _Cursor(cursor="")
        else:
            answer = await self._call("/2/files/list_folder/continue", {"cursor": state.cursor})
        paths, versions = dict(state.paths), dict(state.versions)
        where = {file_id: path for path, file_id in paths.items()}
        live: dict[str, dict[str, Any]] = {}
        gone: set[str] = set()
        while True:
            for entry in answer.get("entries", []):
                tag, lower = entry.get(".tag"), str(entry.get("path_lower", ""))
                if tag == "file" and entry.get("id"):
                    file_id = str(entry["id"])
                    if file_id in where:
                        paths.pop(where[file_id], None)
                    paths[lower], where[file_id] = file_id, lower
                    live[file_id] = entry
                    gone.discard(file_id)
                elif tag == "deleted":
                    for path in [p for p in paths if p == lower or p.startswith(lower + "/")]:
                        file_id = paths.pop(path)
                        where.pop(file_id, None)
                        live.pop(file_id, None)
                        gone.add(file_id)
            if not answer.get("has_more"):
                break
            answer = await self._call("/2/files/list_folder/continue",
                                      {"cursor": answer["cursor"]})  # fmt: skip
        items = [self.map(entry, versions) for entry in live.values()]
        for item in items:
            versions[item.ref] = str(live[item.ref].get("content_hash", ""))
        for file_id in gone:
            versions.pop(file_id, None)
        after = _Cursor(cursor=str(answer["cursor"]), paths=paths, versions=versions)
        return Changes(items=items, deleted=sorted(g for g in gone if g in self.known),
                       cursor=msgspec.json.encode(after).decode(), complete=complete)  # fmt: skip

    def map(self, entry: Mapping[str, Any], versions: Mapping[str, str]) -> RemoteItem:
        """A file entry as a RemoteItem."""
        ref, name = str(entry["id"]), str(entry.get("name") or "untitled")
        display = str(entry.get("path_display") or entry.get("path_lower") or "")
        relative = display[len(self.folder) :] if self.folder else display
        parent = relative.rsplit("/", 1)[0] if "/" in relative else ""
        hashed = str(entry.get("content_hash", ""))
        same = ref in self.known and hashed and versions.get(ref) == hashed
        modified = str(entry.get("server_modified", ""))
        return RemoteItem(
            ref=ref, name=name,
            media_type=mimetypes.guess_type(name)[0] or "application/octet-stream",
            tags=[f"collection:{parent}"] if parent else [],
            meta=SourceMeta(title=name, year=int(modified[:4]) if modified[:4].isdigit() else None),
            blob=self.known[ref] if same else None,
        )  # fmt: skip

    async def fetch(self, item: RemoteItem) -> bytes:
        response = await self.client.request(
            "POST", f"{self.content_url}/2/files/download", ok=(200, 409),
            headers={"Dropbox-API-Arg": json.dumps({"path": item.ref})},
        )  # fmt: skip
        if response.status_code == 409:
            try:
                summary = str(response.json().get("error_summary", ""))[:100]
            except ValueError:
                summary = ""
            raise ItemFailed("unreadable", f"Dropbox refuses to give {item.name} ({summary})")
        return response.content


class _Reset(Exception):
    """Dropbox's cursor is no longer valid (`reset`): the folder must be listed again."""
