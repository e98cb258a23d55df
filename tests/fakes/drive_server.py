"""A Google Drive API v3 server on a loopback port, for the subset the connector uses:
`files` listed by `q='<id>' in parents and trashed = false [and mimeType = '<folder>']` (paged by
`pageSize`/`pageToken`/`nextPageToken`), `changes/startPageToken`, `changes` (`pageToken`,
`nextPageToken`, `newStartPageToken`; a change names `fileId`, `removed` and the `file` as it is
now), `files/<id>?alt=media`, `files/<id>/export?mimeType=` for Google-native files (403
`fileNotDownloadable` on their media, as Drive answers), Bearer tokens from the FakeOAuth,
401 `authError`, 403 for a file the test makes unreadable, 404 `notFound`."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from tests.fakes.oauth_server import ApiServer, FakeOAuth, Reply, json_reply

FOLDER = "application/vnd.google-apps.folder"
DOC = "application/vnd.google-apps.document"
_Q = re.compile(r"^'([^']+)' in parents and trashed = false( and mimeType = '([^']+)')?$")


class FakeDrive(ApiServer):
    def __init__(self, oauth: FakeOAuth | None = None, page_size: int = 3) -> None:
        super().__init__(oauth)
        self.files: dict[str, dict[str, Any]] = {}
        self.content: dict[str, bytes] = {}
        self.log: list[str] = []
        """File ids in the order they changed (the changes API's page tokens index it)."""
        self.removed: set[str] = set()
        self.unreadable: set[str] = set()
        self.page_size = page_size
        self._clock = 0

    def unauthorized(self) -> Reply:
        return json_reply(401, {"error": {"code": 401, "message": "Invalid Credentials",
                                          "errors": [{"reason": "authError"}]}})  # fmt: skip

    # -- the Drive, as a test changes it --

    def _touch(self, file_id: str, **fields: Any) -> None:
        self._clock += 1
        file = self.files.setdefault(file_id, {"id": file_id, "trashed": False, "version": "0"})
        file.update(fields)
        file["version"] = str(int(file["version"]) + 1)
        file["modifiedTime"] = (
            f"2026-05-{1 + self._clock // 60:02d}T10:{self._clock % 60:02d}:00.000Z"
        )
        self.log.append(file_id)

    def folder(self, file_id: str, name: str, parent: str = "root") -> None:
        self._touch(file_id, name=name, mimeType=FOLDER, parents=[parent])

    def put(self, file_id: str, name: str, data: bytes, parent: str = "root",
            mime: str = "text/plain") -> None:  # fmt: skip
        self.content[file_id] = data
        fields: dict[str, Any] = {"name": name, "mimeType": mime, "parents": [parent]}
        if mime != DOC:
            fields["md5Checksum"] = hashlib.md5(data).hexdigest()
        if file_id in self.files:
            fields["parents"] = self.files[file_id]["parents"]
        self._touch(file_id, **fields)

    def rename(self, file_id: str, name: str) -> None:
        self._touch(file_id, name=name)

    def move(self, file_id: str, parent: str) -> None:
        self._touch(file_id, parents=[parent])

    def trash(self, file_id: str) -> None:
        self._touch(file_id, trashed=True)

    def delete(self, file_id: str) -> None:
        self.files.pop(file_id)
        self.removed.add(file_id)
        self.log.append(file_id)

    # -- the API --

    def _page(self, found: list[Any], query: dict[str, str], key: str) -> dict[str, Any]:
        offset = int(query.get("pageToken") or 0)
        size = min(int(query.get("pageSize", 100)), self.page_size)
        page: dict[str, Any] = {key: found[offset : offset + size]}
        if offset + size < len(found):
            page["nextPageToken"] = str(offset + size)
        return page

    def api(self, method: str, path: str, query: dict[str, str], headers: dict[str, str],
            body: bytes) -> Reply:  # fmt: skip
        if path == "/drive/v3/changes/startPageToken":
            return json_reply(
                200, {"kind": "drive#startPageToken", "startPageToken": str(len(self.log))}
            )
        if path == "/drive/v3/changes":
            start = int(query["pageToken"])
            size = min(int(query.get("pageSize", 100)), self.page_size)
            changes = []
            for file_id in self.log[start : start + size]:
                if file_id in self.files:
                    changes.append({"changeType": "file", "fileId": file_id, "removed": False,
                                    "file": dict(self.files[file_id])})  # fmt: skip
                else:
                    changes.append({"changeType": "file", "fileId": file_id, "removed": True})
            page: dict[str, Any] = {"kind": "drive#changeList", "changes": changes}
            if start + size < len(self.log):
                page["nextPageToken"] = str(start + size)
            else:
                page["newStartPageToken"] = str(len(self.log))
            return json_reply(200, page)
        if path == "/drive/v3/files":
            match = _Q.match(query.get("q", ""))
            if match is None:
                return json_reply(400, {"error": {"code": 400, "message": "Invalid Value"}})
            parent, mime = match.group(1), match.group(3)
            found = [f for f in self.files.values()
                     if parent in f["parents"] and not f["trashed"]
                     and (mime is None or f["mimeType"] == mime)]  # fmt: skip
            return json_reply(200, self._page(sorted(found, key=lambda f: f["id"]), query, "files"))
        match = re.match(r"^/drive/v3/files/([^/]+)(/export)?$", path)
        if match is None or match.group(1) not in self.files:
            return json_reply(404, {"error": {"code": 404, "message": "File not found"}})
        file_id = match.group(1)
        if file_id in self.unreadable:
            return json_reply(403, {"error": {"code": 403, "message": "cannotDownloadFile"}})
        native = self.files[file_id]["mimeType"] == DOC
        if match.group(2):
            if not native:
                return json_reply(403, {"error": {"code": 403, "message": "fileNotExportable"}})
            return 200, {"Content-Type": query.get("mimeType", "")}, self.content[file_id]
        if query.get("alt") != "media" or native:
            return json_reply(403, {"error": {"code": 403, "message": "fileNotDownloadable"}})
        return 200, {"Content-Type": "application/octet-stream"}, self.content[file_id]

    def __enter__(self) -> FakeDrive:
        super().__enter__()
        return self
