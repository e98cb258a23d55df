"""A Microsoft Graph server on a loopback port, for the subset the OneDrive connector uses:
`GET /me/drive/root/delta` and `/me/drive/items/<id>/delta` (the folder's items, itself
included, paged by `@odata.nextLink`, ending in an `@odata.deltaLink` whose token gives the
changes since: items as they are now, or a `deleted` facet; a deleted folder is reported alone,
as Graph may), `file.hashes.quickXorHash`, `GET /me/drive/items/<id>/content` answered with a 302
to a pre-authenticated download URL on another origin (`localhost` rather than 127.0.0.1, so
the client must not forward its Authorization header), 401 `InvalidAuthenticationToken`."""

from __future__ import annotations

import base64
import hashlib
from typing import Any
from urllib.parse import urlencode

from tests.fakes.oauth_server import ApiServer, FakeOAuth, Reply, json_reply

ROOT = "ROOTID"


class FakeOneDrive(ApiServer):
    def __init__(self, oauth: FakeOAuth | None = None, page_size: int = 3) -> None:
        super().__init__(oauth)
        self.items: dict[str, dict[str, Any]] = {
            ROOT: {"id": ROOT, "name": "root", "root": {}, "folder": {"childCount": 0}}
        }
        self.content: dict[str, bytes] = {}
        self.journal: list[str] = []
        self.deleted: set[str] = set()
        self.unreadable: set[str] = set()
        self.download_headers: list[dict[str, str]] = []
        self.page_size = page_size
        self.open_paths = ("/download/",)
        self._tick = 0

    def unauthorized(self) -> Reply:
        return json_reply(401, {"error": {"code": "InvalidAuthenticationToken",
                                          "message": "Access token has expired."}})  # fmt: skip

    # -- the drive, as a test changes it --

    def _touch(self, item_id: str, **fields: Any) -> None:
        self._tick += 1
        item = self.items.setdefault(item_id, {"id": item_id})
        item.update(fields)
        item["cTag"] = f"c:{item_id},{self._tick}"
        item["lastModifiedDateTime"] = "2026-07-01T10:00:00Z"
        self.deleted.discard(item_id)
        self.journal.append(item_id)

    def folder(self, item_id: str, name: str, parent: str = ROOT) -> None:
        self._touch(item_id, name=name, folder={"childCount": 0}, parentReference={"id": parent})

    def put(self, item_id: str, name: str, data: bytes, parent: str = ROOT,
            mime: str = "text/plain") -> None:  # fmt: skip
        self.content[item_id] = data
        digest = base64.b64encode(hashlib.sha1(data).digest()).decode()
        parent = self.items[item_id]["parentReference"]["id"] if item_id in self.items else parent
        self._touch(item_id, name=name, parentReference={"id": parent}, size=len(data),
                    file={"mimeType": mime, "hashes": {"quickXorHash": digest}})  # fmt: skip

    def rename(self, item_id: str, name: str) -> None:
        self._touch(item_id, name=name)

    def move(self, item_id: str, parent: str) -> None:
        self._touch(item_id, parentReference={"id": parent})

    def delete(self, item_id: str) -> None:
        """The item goes; a folder takes its contents, but only the folder is reported."""
        gone = [item_id] + [i for i in self.items if self._within(i, item_id) and i != item_id]
        for each in gone:
            self.items.pop(each, None)
        self.deleted.add(item_id)
        self.journal.append(item_id)

    # -- the API --

    def _within(self, item_id: str, scope: str) -> bool:
        while item_id in self.items:
            if item_id == scope:
                return True
            item_id = self.items[item_id].get("parentReference", {}).get("id", "")
        return False

    def _link(self, scope: str, **params: Any) -> str:
        path = "/me/drive/root/delta" if scope == ROOT else f"/me/drive/items/{scope}/delta"
        return f"{self.base_url}{path}?{urlencode(params)}"

    def api(self, method: str, path: str, query: dict[str, str], headers: dict[str, str],
            body: bytes) -> Reply:  # fmt: skip
        if path.startswith("/download/"):
            self.download_headers.append(headers)
            return 200, {"Content-Type": "application/octet-stream"}, self.content[path[10:]]
        if path.endswith("/delta"):
            scope = ROOT if path == "/me/drive/root/delta" else path.split("/")[4]
            if scope not in self.items:
                return json_reply(404, {"error": {"code": "itemNotFound"}})
            if "token" in query:
                ids = list(dict.fromkeys(self.journal[int(query["token"]) :]))
                value = [{"id": i, "deleted": {"state": "deleted"}} if i in self.deleted
                         else dict(self.items[i]) for i in ids
                         if i in self.deleted or self._within(i, scope)]  # fmt: skip
                return json_reply(200, {"value": value, "@odata.deltaLink":
                                        self._link(scope, token=len(self.journal))})  # fmt: skip
            everything = [dict(i) for i in self.items.values() if self._within(i["id"], scope)]
            skip = int(query.get("skip", 0))
            page: dict[str, Any] = {"value": everything[skip : skip + self.page_size]}
            if skip + self.page_size < len(everything):
                page["@odata.nextLink"] = self._link(scope, skip=skip + self.page_size)
            else:
                page["@odata.deltaLink"] = self._link(scope, token=len(self.journal))
            return json_reply(200, page)
        if path.startswith("/me/drive/items/") and path.endswith("/content"):
            item_id = path.split("/")[4]
            if item_id in self.unreadable:
                return json_reply(403, {"error": {"code": "accessDenied"}})
            if item_id not in self.items:
                return json_reply(404, {"error": {"code": "itemNotFound"}})
            elsewhere = self.base_url.replace("127.0.0.1", "localhost")
            return 302, {"Location": f"{elsewhere}/download/{item_id}?sig=presigned"}, b""
        return json_reply(400, {"error": {"code": "invalidRequest"}})

    def __enter__(self) -> FakeOneDrive:
        super().__enter__()
        return self
