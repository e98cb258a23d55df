"""A Confluence REST API (v1) server on a loopback port, for the subset the connector uses:
`GET /rest/api/content/search` with CQL (`space = "K" and type = page`, optionally
`and lastmodified >= "yyyy-MM-dd HH:mm"`, `order by lastmodified`), `expand`, `limit`/`start`
pagination with `_links.next`, HTTP Basic (e-mail + API token) auth answered 401 when wrong, and
429 with `Retry-After`."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from tests.fakes.wire import WireServer

_SPACE = re.compile(r'space\s*=\s*"([^"]+)"')
_SINCE = re.compile(r'lastmodified\s*>=\s*"([^"]+)"')


@dataclass
class FakeConfluence:
    email: str = "ada@example.org"
    token: str = "conf-token-secret-0123456789"
    pages: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[dict[str, str]] = field(default_factory=list)
    clock: datetime = field(default_factory=lambda: datetime(2026, 3, 1, 9, 0, tzinfo=UTC))
    base_url: str = ""
    _failures: list[tuple[int, str | None]] = field(default_factory=list)

    def _tick(self) -> str:
        self.clock += timedelta(minutes=5)
        return self.clock.strftime("%Y-%m-%dT%H:%M:%S.000Z")

    def page(self, page_id: str, space: str, title: str, body: str, *, labels: list[str] = (),
             ancestors: list[str] = (), creator: str = "Ada Smith") -> None:  # fmt: skip
        old = self.pages.get(page_id)
        self.pages[page_id] = {
            "id": page_id, "type": "page", "status": "current", "title": title,
            "space": {"key": space}, "body": {"storage": {"value": body}},
            "metadata": {"labels": {"results": [{"name": n} for n in labels]}},
            "ancestors": [{"title": a} for a in ancestors],
            "history": old["history"] if old else {
                "createdBy": {"displayName": creator}, "createdDate": self._tick()},
            "version": {"number": (old["version"]["number"] + 1) if old else 1, "when": self._tick()},
        }  # fmt: skip

    def fail_next(self, status: int, *, times: int = 1, retry_after: str | None = None) -> None:
        self._failures += [(status, retry_after)] * times

    def answer(self, path: str, query: dict[str, str], headers: dict[str, str]):
        self.requests.append(query)
        if self._failures:
            status, retry_after = self._failures.pop(0)
            return status, {"Retry-After": retry_after} if retry_after else {}, b"{}"
        wanted = "Basic " + base64.b64encode(f"{self.email}:{self.token}".encode()).decode()
        if headers.get("authorization") != wanted:
            return 401, {}, b'{"message": "Unauthorized"}'
        if path != "/rest/api/content/search":
            return 404, {}, b"{}"
        cql = query.get("cql", "")
        space, since = _SPACE.search(cql), _SINCE.search(cql)
        found = [p for p in self.pages.values() if space and p["space"]["key"] == space[1]]
        if since:
            found = [p for p in found if p["version"]["when"][:16].replace("T", " ") >= since[1]]
        found.sort(key=lambda p: p["version"]["when"])
        expand = query.get("expand", "")
        start, limit = int(query.get("start", "0")), int(query.get("limit", "25"))
        results = [p if expand else {"id": p["id"], "type": "page", "title": p["title"]}
                   for p in found[start : start + limit]]  # fmt: skip
        links: dict[str, str] = {"base": self.base_url}
        if start + limit < len(found):
            links["next"] = (
                f"/rest/api/content/search?{urlencode({**query, 'start': start + limit})}"
            )
        body = {"results": results, "start": start, "limit": limit, "size": len(results),
                "_links": links}  # fmt: skip
        return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()

    def __enter__(self) -> FakeConfluence:
        self._server = WireServer(
            lambda _m, path, query, headers, _b: self.answer(path, query, headers)
        )
        self.base_url = self._server.base_url
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.close()
