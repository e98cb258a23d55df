"""A fake rerank service in Cohere's and Jina's wire shape: POST /v2/rerank (Cohere) and
/v1/rerank (Jina), `{model, query, documents, top_n}` in, `{results: [{index,
relevance_score}]}` out, best first, with a bearer key (401 `{"message": "invalid api token"}`).

Relevance is the share of the query's words a document holds (deterministic, so a test knows
the order). `bad_index` makes the next answer name a document that was not sent.
"""

from __future__ import annotations

import re
from typing import Any

from tests.fakes.base import FakeServer, Recorded, Reply

_WORD = re.compile(r"\w+")


def _words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text)}


class FakeRerank(FakeServer):
    """A rerank API on loopback."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bad_index = False

    def auth_reply(self, request: Recorded) -> Reply | None:
        if request.headers.get("authorization") == f"Bearer {self.api_key}":
            return None
        return Reply(401, {"message": "invalid api token"})

    def error_reply(
        self, status: int, message: str | None = None, retry_after: float | None = None
    ) -> Reply:
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        return Reply(status, {"message": message or f"error {status}"}, headers)

    def route(self, request: Recorded) -> Reply:
        if request.method != "POST" or request.path not in ("/v2/rerank", "/v1/rerank"):
            return Reply(404, {"message": "not found"})
        body = request.body
        if not isinstance(body, dict) or not isinstance(body.get("documents"), list):
            return Reply(400, {"message": "documents must be a list of strings"})
        query = _words(str(body.get("query", "")))
        scores = [
            (i, len(query & _words(str(d))) / max(1, len(query)))
            for i, d in enumerate(body["documents"])
        ]
        scores.sort(key=lambda s: (-s[1], s[0]))
        top = scores[: int(body.get("top_n") or len(scores))]
        results = [{"index": i, "relevance_score": s} for i, s in top]
        if self.bad_index:
            self.bad_index = False
            results[0]["index"] = len(body["documents"]) + 5
        return Reply(200, {"id": "r1", "results": results})
