"""A Notion API server on a loopback port, for the subset the connector uses: `POST /v1/search`
(filter object=page, sort by last_edited_time descending, `start_cursor`/`page_size`,
`has_more`/`next_cursor`), `GET /v1/blocks/<id>/children` (paginated the same way), Bearer auth
answered 401 `unauthorized` when wrong, `Notion-Version` required, and 429 `rate_limited` with
`Retry-After`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.fakes.wire import WireServer


def _error(status: int, code: str, message: str) -> tuple[int, dict[str, str], bytes]:
    body = {"object": "error", "status": status, "code": code, "message": message}
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()


@dataclass
class FakeNotion:
    token: str = "secret_notion_integration_0123456789"
    pages: dict[str, dict[str, Any]] = field(default_factory=dict)
    blocks: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    clock: datetime = field(default_factory=lambda: datetime(2026, 4, 1, 8, 0, tzinfo=UTC))
    base_url: str = ""
    _failures: list[tuple[int, str | None]] = field(default_factory=list)

    def _tick(self) -> str:
        self.clock += timedelta(seconds=30)
        return self.clock.strftime("%Y-%m-%dT%H:%M:%S.000Z")

    def page(
        self, page_id: str, title: str, paragraphs: list[str], *, tags: list[str] = ()
    ) -> None:
        old = self.pages.get(page_id)
        self.pages[page_id] = {
            "object": "page", "id": page_id, "archived": False, "in_trash": False,
            "created_time": old["created_time"] if old else self._tick(),
            "last_edited_time": self._tick(),
            "properties": {
                "Name": {"id": "title", "type": "title", "title": [{"plain_text": title}]},
                "Tags": {"id": "t", "type": "multi_select",
                         "multi_select": [{"name": t} for t in tags]},
            },
        }  # fmt: skip
        self.blocks[page_id] = [
            {"object": "block", "id": f"{page_id}-b{n}", "type": "paragraph", "has_children": False,
             "paragraph": {"rich_text": [{"plain_text": text}]}}
            for n, text in enumerate(paragraphs)
        ]  # fmt: skip

    def fail_next(self, status: int, *, retry_after: str | None = None) -> None:
        self._failures.append((status, retry_after))

    @staticmethod
    def _paged(items: list[Any], start: str | None, size: int) -> dict[str, Any]:
        offset = int(start or "0")
        more = offset + size < len(items)
        return {"object": "list", "results": items[offset : offset + size], "has_more": more,
                "next_cursor": str(offset + size) if more else None}  # fmt: skip

    def answer(self, method: str, path: str, query: dict[str, str], headers: dict[str, str],
               body: Any) -> tuple[int, dict[str, str], bytes]:  # fmt: skip
        self.requests.append((method, path))
        if self._failures:
            status, retry_after = self._failures.pop(0)
            _, headers_, payload = _error(status, "rate_limited", "You have been rate limited.")
            if retry_after:
                headers_["Retry-After"] = retry_after
            return status, headers_, payload
        if headers.get("authorization") != f"Bearer {self.token}":
            return _error(401, "unauthorized", "API token is invalid.")
        if "notion-version" not in headers:
            return _error(400, "missing_version", "Notion-Version header failed validation")
        if method == "POST" and path == "/v1/search":
            found = sorted(self.pages.values(), key=lambda p: p["last_edited_time"], reverse=True)
            size = min(int(body.get("page_size", 100)), 100)
            answer = self._paged(found, body.get("start_cursor"), size)
        elif method == "GET" and path.startswith("/v1/blocks/") and path.endswith("/children"):
            block = path.split("/")[3]
            if block not in self.blocks:
                return _error(404, "object_not_found", "Could not find block")
            answer = self._paged(self.blocks[block], query.get("start_cursor"),
                                 min(int(query.get("page_size", "100")), 100))  # fmt: skip
        else:
            return _error(404, "invalid_request_url", "Invalid request URL.")
        return 200, {"Content-Type": "application/json"}, json.dumps(answer).encode()

    def __enter__(self) -> FakeNotion:
        self._server = WireServer(
            lambda method, path, query, headers, body: self.answer(
                method, path, query, headers, json.loads(body) if body else {}
            ),
            methods=("GET", "POST"),
        )
        self.base_url = self._server.base_url
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.close()
