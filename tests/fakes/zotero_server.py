"""A Zotero Web API (v3) server on a loopback port, speaking its wire protocol for the subset the
connector uses: `Zotero-API-Key`, library versions (`Last-Modified-Version`, `since`,
`If-Modified-Since-Version` → 304), `includeTrashed`, pagination (`limit`, `start`,
`Link: <…>; rel="next"`, `Total-Results`), `/deleted`, `/items/<key>/children`,
`/items/<key>/file`, 403 for a bad key, 429 with `Retry-After`.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from tests.fakes.wire import WireServer


@dataclass
class FakeZotero:
    library: str = "users/4242"
    api_key: str = "zot-key-secret-0123456789"
    version: int = 0
    collections: dict[str, dict[str, Any]] = field(default_factory=dict)
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    deleted: dict[str, int] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str], dict[str, str]]] = field(default_factory=list)
    _failures: list[tuple[int, str | None]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- the library, as a test changes it --

    def _bump(self) -> int:
        self.version += 1
        return self.version

    def collection(self, key: str, name: str, parent: str | None = None) -> None:
        self.collections[key] = {"key": key, "version": self._bump(), "name": name,
                                 "parentCollection": parent or False}  # fmt: skip

    def put(self, key: str, **data: Any) -> None:
        """Create or change an item (its version moves, as the library's does)."""
        item = {**self.items.get(key, {}), **data, "key": key}
        item["version"] = self._bump()
        self.items[key] = item

    def attach(self, key: str, parent: str | None, filename: str, content: bytes,
               content_type: str = "application/pdf") -> None:  # fmt: skip
        self.files[key] = content
        self.put(key, itemType="attachment", parentItem=parent or False, linkMode="imported_file",
                 filename=filename, contentType=content_type, title=filename, tags=[])  # fmt: skip

    def remove(self, key: str) -> None:
        self.items.pop(key, None)
        self.deleted[key] = self._bump()

    def fail_next(self, status: int, *, times: int = 1, retry_after: str | None = None) -> None:
        with self._lock:
            self._failures += [(status, retry_after)] * times

    # -- the server --

    def answer(self, path: str, query: dict[str, str], headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:  # fmt: skip
        with self._lock:
            self.requests.append((path, query, headers))
            if self._failures:
                status, retry_after = self._failures.pop(0)
                extra = {"Retry-After": retry_after} if retry_after else {}
                return status, extra, b"Too many requests"
        if headers.get("zotero-api-key") != self.api_key:
            return 403, {}, b"Invalid key"
        prefix = f"/{self.library}/"
        if not path.startswith(prefix):
            return 404, {}, b"Not found"
        rest = path[len(prefix) :].split("/")
        since = int(query.get("since", "0"))
        lmv = {"Last-Modified-Version": str(self.version)}
        if rest == ["collections"]:
            return self._page(path, query, list(self.collections.values()), lmv)
        if rest == ["deleted"]:
            keys = [k for k, v in self.deleted.items() if v > since]
            body = {"collections": [], "items": keys, "searches": [], "tags": [], "settings": []}
            return 200, lmv, json.dumps(body).encode()
        if rest == ["items"]:
            if "if-modified-since-version" in headers and self.version <= int(
                headers["if-modified-since-version"]
            ):
                return 304, lmv, b""
            found = [i for i in self.items.values() if i["version"] > since]
            if query.get("includeTrashed") != "1":
                found = [i for i in found if not i.get("deleted")]
            return self._page(path, query, found, lmv)
        if len(rest) == 2 and rest[0] == "items" and rest[1] in self.items:
            return 200, lmv, json.dumps(self._record(self.items[rest[1]])).encode()
        if len(rest) == 3 and rest[0] == "items" and rest[2] == "children":
            found = [i for i in self.items.values() if i.get("parentItem") == rest[1]]
            return self._page(path, query, found, lmv)
        if len(rest) == 3 and rest[0] == "items" and rest[2] == "file" and rest[1] in self.files:
            return 200, {"Content-Type": "application/octet-stream"}, self.files[rest[1]]
        return 404, {}, b"Not found"

    def _record(self, data: dict[str, Any]) -> dict[str, Any]:
        return {"key": data["key"], "version": data["version"], "data": data,
                "library": {"type": "user", "id": 4242}}  # fmt: skip

    def _page(self, path: str, query: dict[str, str], records: list[dict[str, Any]],
              headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:  # fmt: skip
        limit, start = int(query.get("limit", "25")), int(query.get("start", "0"))
        page = records[start : start + limit]
        out = {**headers, "Total-Results": str(len(records))}
        if start + limit < len(records):
            nxt = urlencode({**query, "start": start + limit})
            out["Link"] = f'<{self.base_url}{path}?{nxt}>; rel="next"'
        return 200, out, json.dumps([self._record(r) for r in page]).encode()

    base_url: str = ""

    def __enter__(self) -> FakeZotero:
        self._server = WireServer(
            lambda _m, path, query, headers, _b: self.answer(path, query, headers)
        )
        self.base_url = self._server.base_url
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.close()
