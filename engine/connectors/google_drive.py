"""Google Drive: one folder (and its subfolders) of a person's Drive, through the Drive v3 API.

- First sync: `changes/startPageToken` is read first (so what changes while the folder is being
  listed is seen next time), then the folder tree is listed (`files?q='<id>' in parents`, paged
  by `nextPageToken`, recursively): the whole library (`complete`).
- Next syncs: `changes?pageToken=<cursor>` (paged, until `newStartPageToken`, the next cursor)
  lists what changed anywhere in the Drive; kept are files whose parent is in the folder tree.
  A file removed, trashed, or moved out of the tree is deleted. The tree's folders are listed
  again each sync: when a folder was added, renamed, moved or removed, the whole tree is
  relisted so every file's `collection:` tag follows.
- Subfolders are collections: a file in `<folder>/Reports/2026` carries
  `collection:/Reports/2026` (a slash inside a folder's name becomes `∕`); files directly in the
  folder carry none. Its title (`meta.title`) is its name, so a rename is a `SourceDescribed`.
- Drive's 403 `rateLimitExceeded` / `userRateLimitExceeded` is a throttle (`throttled`), waited
  out like a 429, not a refused credential.
- Bytes: `files/<id>?alt=media`; Google Docs, Sheets and Slides are exported
  (`files/<id>/export`) as .docx, .xlsx and .pptx, Drawings as PDF; other Google-native types
  (Forms, Sites, shortcuts) have no bytes and are skipped. `md5Checksum` (or, for exported
  files, `version`) is kept per file in the cursor, so a file whose content did not change (a
  rename, a move) is not downloaded again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx
import msgspec

from engine.connectors import Changes, ConnectorError, ItemFailed, RemoteItem
from engine.connectors.http import ServiceClient
from engine.rules import Invalid
from events import SourceMeta

__all__ = ["EXPORTS", "FOLDER", "GoogleDrive", "check_folder", "throttled"]

FOLDER = "application/vnd.google-apps.folder"
_OFFICE = "application/vnd.openxmlformats-officedocument"
EXPORTS: dict[str, tuple[str, str]] = {
    "application/vnd.google-apps.document": (f"{_OFFICE}.wordprocessingml.document", ".docx"),
    "application/vnd.google-apps.spreadsheet": (f"{_OFFICE}.spreadsheetml.sheet", ".xlsx"),
    "application/vnd.google-apps.presentation": (f"{_OFFICE}.presentationml.presentation", ".pptx"),
    "application/vnd.google-apps.drawing": ("application/pdf", ".pdf"),
}
"""Google-native types, exported as formats RagStack reads: (media type, file extension)."""
_FIELDS = "id,name,mimeType,md5Checksum,modifiedTime,version,parents,trashed"
_SHARED = {"supportsAllDrives": "true", "includeItemsFromAllDrives": "true"}
_SHARED_FILE = {"supportsAllDrives": "true"}
MAX_FOLDERS = 10_000
"""A folder tree larger than this is refused rather than listed for ever."""


_FOLDER_ID = re.compile(r"^[A-Za-z0-9_-]{1,200}$")


def check_folder(folder: str) -> str:
    """A Drive folder id (or `root`, My Drive), checked: it is quoted into a query."""
    folder = folder.strip()
    if not _FOLDER_ID.match(folder):
        raise Invalid(
            "a Google Drive `library` is a folder's id (the last part of its drive.google.com"
            " address) or root"
        )
    return folder


_RATE_LIMITS = {"rateLimitExceeded", "userRateLimitExceeded"}


def throttled(response: httpx.Response) -> bool:
    """Drive answers some rate limits with 403 and a reason, not 429: they are waited out, not
    taken for a refused credential."""
    if response.status_code != 403:
        return False
    try:
        errors = response.json().get("error", {}).get("errors", [])
    except (ValueError, AttributeError):
        return False
    return any(isinstance(e, dict) and e.get("reason") in _RATE_LIMITS for e in errors)


class _Cursor(msgspec.Struct, kw_only=True):
    token: str
    """The changes API's page token."""
    folders: dict[str, str]
    """Folder id → its path under the library folder ("" for the folder itself)."""
    versions: dict[str, str] = {}
    """File id → md5Checksum or version when last listed."""


def _fingerprint(file: Mapping[str, Any]) -> str:
    md5 = file.get("md5Checksum")
    return f"md5:{md5}" if md5 else f"v:{file.get('version', '')}:{file.get('modifiedTime', '')}"


class GoogleDrive:
    """The Connector over one Drive folder."""

    kind: ClassVar[str] = "google_drive"

    def __init__(self, client: ServiceClient, folder: str) -> None:
        self.client = client
        self.folder = folder
        self.known: Mapping[str, str] = {}
        self._native: set[str] = set()
        """Refs of Google-native files listed: their content is an export."""

    def with_known(self, known: Mapping[str, str]) -> GoogleDrive:
        """The refs the chapter holds, with their blobs: unchanged files keep theirs."""
        self.known = dict(known)
        return self

    async def _json(self, path: str, params: Mapping[str, Any]) -> dict[str, Any]:
        answer = (await self.client.get(path, params=params)).json()
        if not isinstance(answer, dict):
            raise ConnectorError("Google Drive answered with something else than a JSON object")
        return answer

    async def _children(self, folder: str, *, folders_only: bool) -> list[dict[str, Any]]:
        q = f"'{folder}' in parents and trashed = false"
        if folders_only:
            q += f" and mimeType = '{FOLDER}'"
        params: dict[str, Any] = {"q": q, "pageSize": 1000, **_SHARED,
                                  "fields": f"nextPageToken,files({_FIELDS})"}  # fmt: skip
        found: list[dict[str, Any]] = []
        while True:
            answer = await self._json("/drive/v3/files", params)
            found += [f for f in answer.get("files", []) if isinstance(f, dict) and f.get("id")]
            if not answer.get("nextPageToken"):
                return found
            params["pageToken"] = answer["nextPageToken"]

    async def _tree(self, *, folders_only: bool) -> tuple[dict[str, str], list[dict[str, Any]]]:
        """Folder id → path for the whole tree, and (unless `folders_only`) its files."""
        folders, files, queue = {self.folder: ""}, [], [self.folder]
        while queue:
            current = queue.pop(0)
            for child in await self._children(current, folders_only=folders_only):
                if child.get("mimeType") == FOLDER:
                    if child["id"] not in folders:
                        name = str(child.get("name", "")).replace("/", "∕")
                        folders[child["id"]] = f"{folders[current]}/{name}"
                        queue.append(child["id"])
                        if len(folders) > MAX_FOLDERS:
                            raise ConnectorError(
                                f"the Drive folder holds more than {MAX_FOLDERS} folders"
                            )
                elif not folders_only:
                    files.append(child)
        return folders, files

    async def changes(self, cursor: str | None) -> Changes:
        state = msgspec.json.decode(cursor, type=_Cursor) if cursor else None
        if state is None:
            token = str((await self._json("/drive/v3/changes/startPageToken", _SHARED_FILE))
                        ["startPageToken"])  # fmt: skip
            return await self._full(token, {})
        folders, _ = await self._tree(folders_only=True)
        files: dict[str, dict[str, Any]] = {}
        removed: set[str] = set()
        params: dict[str, Any] = {"pageToken": state.token, "pageSize": 1000, **_SHARED,
                                  "includeRemoved": "true",
                                  "fields": f"nextPageToken,newStartPageToken,changes(fileId,"
                                            f"removed,file({_FIELDS}))"}  # fmt: skip
        while True:
            answer = await self._json("/drive/v3/changes", params)
            for change in answer.get("changes", []):
                file_id, file = str(change.get("fileId", "")), change.get("file")
                if change.get("removed") or not isinstance(file, dict) or file.get("trashed"):
                    removed.add(file_id)
                    files.pop(file_id, None)
                else:
                    files[file_id] = file
                    removed.discard(file_id)
            if answer.get("newStartPageToken"):
                token = str(answer["newStartPageToken"])
                break
            if not answer.get("nextPageToken"):
                raise ConnectorError("Google Drive ended the changes without a new start token")
            params["pageToken"] = answer["nextPageToken"]
        if folders != state.folders:  # a folder added, renamed, moved or gone: relist it all
            return await self._full(token, state.versions)
        items, versions = [], dict(state.versions)
        for file_id, file in files.items():
            if file.get("mimeType") == FOLDER:
                continue
            path = next((folders[p] for p in file.get("parents", []) if p in folders), None)
            item = self.map(file, path, state.versions) if path is not None else None
            if item is None:  # moved out of the tree, or a type with no bytes
                removed.add(file_id)
                continue
            items.append(item)
            versions[file_id] = _fingerprint(file)
        deleted = sorted(r for r in removed if r in self.known)
        for ref in deleted:
            versions.pop(ref, None)
        next_cursor = _Cursor(token=token, folders=folders, versions=versions)
        return Changes(items=items, deleted=deleted,
                       cursor=msgspec.json.encode(next_cursor).decode())  # fmt: skip

    async def _full(self, token: str, versions: Mapping[str, str]) -> Changes:
        folders, files = await self._tree(folders_only=False)
        items, seen = [], {}
        for file in files:
            path = next((folders[p] for p in file.get("parents", []) if p in folders), "")
            item = self.map(file, path, versions)
            if item is not None:
                items.append(item)
                seen[item.ref] = _fingerprint(file)
        cursor = _Cursor(token=token, folders=folders, versions=seen)
        return Changes(items=items, cursor=msgspec.json.encode(cursor).decode(), complete=True)

    def map(
        self, file: Mapping[str, Any], path: str, versions: Mapping[str, str]
    ) -> RemoteItem | None:
        """A file as a RemoteItem (None for a Google-native type with no bytes to export)."""
        mime = str(file.get("mimeType") or "application/octet-stream")
        name = str(file.get("name") or "untitled")
        if mime.startswith("application/vnd.google-apps."):
            if mime not in EXPORTS:
                return None
            mime, extension = EXPORTS[mime]
            name = name if name.lower().endswith(extension) else name + extension
            self._native.add(str(file["id"]))
        ref = str(file["id"])
        same = ref in self.known and versions.get(ref) == _fingerprint(file)
        modified = str(file.get("modifiedTime", ""))
        year = int(modified[:4]) if modified[:4].isdigit() else None
        return RemoteItem(
            ref=ref, name=name, media_type=mime, tags=[f"collection:{path}"] if path else [],
            meta=SourceMeta(title=str(file.get("name") or name), year=year),
            blob=self.known[ref] if same else None,
        )  # fmt: skip

    async def fetch(self, item: RemoteItem) -> bytes:
        if item.ref in self._native:
            path, params = f"/drive/v3/files/{item.ref}/export", {"mimeType": item.media_type}
        else:
            path, params = f"/drive/v3/files/{item.ref}", {"alt": "media", **_SHARED_FILE}
        response = await self.client.get(path, params=params, ok=(200, 403, 404))
        if response.status_code == 404:
            raise ItemFailed("not_found", f"{item.name} is no longer in the Drive")
        if response.status_code == 403:  # the credential is fine (listing worked): this file
            raise ItemFailed("unreadable", f"Google Drive refuses to give {item.name}'s content")
        return response.content
