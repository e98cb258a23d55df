"""A Dropbox API v2 server on a loopback port (the API and content hosts on one port), for the
subset the connector uses: `POST /2/files/list_folder` (`path`, `recursive`, `limit`) and
`/2/files/list_folder/continue` (`cursor`, `has_more`; after a listing, the cursor gives the
changes since, in the order they happened: `file` entries, and `deleted` entries that name only
a path), `POST /2/files/download` with the file in `Dropbox-API-Arg` and its metadata in
`Dropbox-API-Result`, `content_hash` computed as Dropbox documents it (SHA-256 of the SHA-256s
of 4 MiB blocks), 409 with `error_summary` for a missing or restricted file, and 401
`expired_access_token` for a token the FakeOAuth no longer honours."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from tests.fakes.oauth_server import ApiServer, FakeOAuth, Reply, json_reply

BLOCK = 4 * 2**20


def content_hash(data: bytes) -> str:
    blocks = [hashlib.sha256(data[i : i + BLOCK]).digest() for i in range(0, len(data), BLOCK)]
    return hashlib.sha256(b"".join(blocks)).hexdigest()


class FakeDropbox(ApiServer):
    def __init__(self, oauth: FakeOAuth | None = None, page_size: int = 3) -> None:
        super().__init__(oauth)
        self.files: dict[str, dict[str, Any]] = {}
        self.content: dict[str, bytes] = {}
        self.folders: set[str] = set()
        self.journal: list[dict[str, Any]] = []
        self.restricted: set[str] = set()
        self.page_size = page_size
        self._rev = 0

    def unauthorized(self) -> Reply:
        return json_reply(401, {"error_summary": "expired_access_token/",
                                "error": {".tag": "expired_access_token"}})  # fmt: skip

    # -- the Dropbox, as a test changes it --

    def folder(self, path: str) -> None:
        self.folders.add(path)
        self.journal.append({".tag": "folder", "name": path.rsplit("/", 1)[1],
                             "path_lower": path.lower(), "path_display": path,
                             "id": f"id:folder{len(self.folders)}"})  # fmt: skip

    def put(self, file_id: str, path: str, data: bytes) -> None:
        self._rev += 1
        self.content[file_id] = data
        entry = {".tag": "file", "id": file_id, "name": path.rsplit("/", 1)[1],
                 "path_lower": path.lower(), "path_display": path, "size": len(data),
                 "rev": f"{self._rev:09x}", "content_hash": content_hash(data),
                 "server_modified": "2026-06-01T10:00:00Z", "is_downloadable": True}  # fmt: skip
        self.files[file_id] = entry
        self.journal.append(dict(entry))

    def move(self, file_id: str, path: str) -> None:
        old = self.files[file_id]
        self.journal.append({".tag": "deleted", "name": old["name"],
                             "path_lower": old["path_lower"], "path_display": old["path_display"]})  # fmt: skip
        self.put(file_id, path, self.content[file_id])

    def delete(self, file_id: str) -> None:
        old = self.files.pop(file_id)
        self.journal.append({".tag": "deleted", "name": old["name"],
                             "path_lower": old["path_lower"], "path_display": old["path_display"]})  # fmt: skip

    def delete_folder(self, path: str) -> None:
        """The folder and what is in it go; the journal names only the folder, as Dropbox may."""
        self.folders.discard(path)
        for file_id in [i for i, f in self.files.items()
                        if f["path_lower"].startswith(path.lower() + "/")]:  # fmt: skip
            del self.files[file_id]
        self.journal.append({".tag": "deleted", "name": path.rsplit("/", 1)[1],
                             "path_lower": path.lower(), "path_display": path})  # fmt: skip

    # -- the API --

    @staticmethod
    def _under(entry: dict[str, Any], root: str) -> bool:
        return not root or entry["path_lower"].startswith(root.lower() + "/")

    def _page(self, entries: list[Any], offset: int, kind: str, root: str, mark: int) -> Reply:
        page = entries[offset : offset + self.page_size]
        more = offset + self.page_size < len(entries)
        cursor = (
            f"{kind}|{offset + self.page_size}|{mark}|{root}" if more else f"j|{mark}|{mark}|{root}"
        )
        return json_reply(200, {"entries": page, "cursor": cursor, "has_more": more})

    def api(self, method: str, path: str, query: dict[str, str], headers: dict[str, str],
            body: bytes) -> Reply:  # fmt: skip
        if path == "/2/files/list_folder":
            args = json.loads(body)
            root = args["path"]
            if root and root not in self.folders:
                return json_reply(409, {"error_summary": "path/not_found/.."})
            snapshot = [{".tag": "folder", "name": p.rsplit("/", 1)[1], "path_lower": p.lower(),
                         "path_display": p} for p in sorted(self.folders)]  # fmt: skip
            snapshot += sorted(self.files.values(), key=lambda f: f["path_lower"])
            entries = [e for e in snapshot if self._under(e, root)]
            return self._page(entries, 0, "s", root, len(self.journal))
        if path == "/2/files/list_folder/continue":
            kind, offset, mark, root = json.loads(body)["cursor"].split("|", 3)
            if kind == "s":
                snapshot = [{".tag": "folder", "name": p.rsplit("/", 1)[1],
                             "path_lower": p.lower(), "path_display": p}
                            for p in sorted(self.folders)]  # fmt: skip
                snapshot += sorted(self.files.values(), key=lambda f: f["path_lower"])
                entries = [e for e in snapshot if self._under(e, root)]
                return self._page(entries, int(offset), "s", root, int(mark))
            entries = [e for e in self.journal[int(offset) :] if self._under(e, root)]
            end = len(self.journal)
            return json_reply(200, {"entries": entries, "cursor": f"j|{end}|{end}|{root}",
                                    "has_more": False})  # fmt: skip
        if path == "/2/files/download":
            if headers.get("content-type"):
                return 400, {}, b'Bad HTTP "Content-Type" header'
            file_id = json.loads(headers.get("dropbox-api-arg", "{}")).get("path", "")
            if file_id in self.restricted:
                return json_reply(409, {"error_summary": "path/restricted_content/.."})
            if file_id not in self.files:
                return json_reply(409, {"error_summary": "path/not_found/.."})
            result = json.dumps({k: v for k, v in self.files[file_id].items() if k != ".tag"})
            return 200, {"Content-Type": "application/octet-stream",
                         "Dropbox-API-Result": result}, self.content[file_id]  # fmt: skip
        return json_reply(404, {"error_summary": "unknown endpoint"})

    def __enter__(self) -> FakeDropbox:
        super().__enter__()
        return self
