"""A fake Ollama server: /api/chat (NDJSON stream, or one JSON object), /api/embed, /api/version,
/api/tags.

Wire format as `ollama serve` answers: `stream` defaults to true, each line a JSON object with
`message.content` and `done`, the last line `done: true` with `done_reason`, `prompt_eval_count`
and `eval_count`; errors as `{"error": "..."}`, an unknown model as 404 "model … not found, try
pulling it first", and a failure midway as one `{"error": …}` line (`error_line_after_chunks`).
A local Ollama takes no key (`api_key` is None by default); set one to act as
Ollama's cloud or an authenticating proxy (bearer token, 401 "unauthorized").
"""

from __future__ import annotations

import json
from typing import Any

from tests.fakes.base import (
    FakeServer,
    Recorded,
    Reply,
    StreamReply,
    count_tokens,
    fake_vector,
    pieces,
    prompt_tokens,
    wrong_role,
)

MODEL_DIMS = {"nomic-embed-text": 768, "mxbai-embed-large": 1024, "all-minilm": 384}
_CREATED = "2026-01-01T00:00:00.000000Z"

_STATUS = {
    400: "invalid request",
    404: "not found",
    429: "too many requests",
    500: "llama runner process has terminated: exit status 2",
    503: "server busy, please try again.  maximum pending requests exceeded",
}


def _bare(model: str) -> str:
    return model.removesuffix(":latest")


class FakeOllama(FakeServer):
    """Ollama on loopback. `models`, when set, are the only pulled models (names without :latest)."""

    def __init__(self, *, api_key: str | None = None, **kwargs: Any) -> None:
        super().__init__(api_key=api_key, **kwargs)
        self.models: set[str] | None = None
        self.version = "0.12.6"
        self.error_line_after_chunks: int | None = None

    def auth_reply(self, request: Recorded) -> Reply | None:
        if request.headers.get("authorization") == f"Bearer {self.api_key}":
            return None
        return Reply(401, {"error": "unauthorized"})

    def error_reply(
        self, status: int, message: str | None = None, retry_after: float | None = None
    ) -> Reply:
        headers = {"retry-after": f"{retry_after:g}"} if retry_after is not None else {}
        return Reply(status, {"error": message or _STATUS.get(status, "error")}, headers)

    def route(self, request: Recorded) -> Reply | StreamReply:
        if request.method == "GET" and request.path == "/api/version":
            return Reply(200, {"version": self.version})
        if request.method == "GET" and request.path == "/api/tags":
            names = sorted(self.models or {"llama3.2", "nomic-embed-text"})
            return Reply(
                200, {"models": [{"name": f"{n}:latest", "model": f"{n}:latest"} for n in names]}
            )
        if request.method == "POST" and request.path == "/api/chat":
            return self._chat(request.body or {})
        if request.method == "POST" and request.path == "/api/embed":
            return self._embed(request.body or {})
        return Reply(404, {"error": "404 page not found"})

    def _missing(self, model: object) -> Reply | None:
        if not isinstance(model, str) or not model:
            return self.error_reply(400, "model is required")
        if self.models is not None and _bare(model) not in self.models:
            return self.error_reply(404, f'model "{model}" not found, try pulling it first')
        return None

    def _embed(self, body: dict[str, Any]) -> Reply:
        if (bad := self._missing(body.get("model"))) is not None:
            return bad
        inputs = body.get("input")
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or any(not isinstance(t, str) for t in inputs):
            return self.error_reply(400, "invalid input type")
        dim = body.get("dimensions") or MODEL_DIMS.get(_bare(body["model"]), self.dim)
        return Reply(
            200,
            {
                "model": body["model"],
                "embeddings": [fake_vector(text, dim) for text in inputs],
                "total_duration": 1000,
                "load_duration": 100,
                "prompt_eval_count": sum(count_tokens(t) for t in inputs),
            },
        )

    def _chat(self, body: dict[str, Any]) -> Reply | StreamReply:
        if (bad := self._missing(body.get("model"))) is not None:
            return bad
        messages = body.get("messages")
        if not isinstance(messages, list):
            return self.error_reply(400, "messages must be a list")
        if wrong_role(messages, ("system", "user", "assistant", "tool")):
            return self.error_reply(400, "invalid message role")
        prompt = prompt_tokens(messages)
        deltas = pieces(self.answer)
        final = {
            "model": body["model"],
            "created_at": _CREATED,
            "done_reason": "stop",
            "done": True,
            "total_duration": 5000,
            "load_duration": 100,
            "prompt_eval_count": prompt,
            "prompt_eval_duration": 1000,
            "eval_count": len(deltas),
            "eval_duration": 3000,
        }
        if body.get("stream") is False:
            message = {"role": "assistant", "content": self.answer}
            return Reply(200, {**final, "message": message})
        lines = [
            {
                "model": body["model"],
                "created_at": _CREATED,
                "message": {"role": "assistant", "content": text},
                "done": False,
            }
            for text in deltas
        ]
        lines.append({**final, "message": {"role": "assistant", "content": ""}})
        if self.error_line_after_chunks is not None:
            # Ollama reports a failure midway (a crashed runner) as one {"error": …} line.
            cut = self.error_line_after_chunks
            lines = [*lines[:cut], {"error": "llama runner process has terminated: signal: killed"}]
        chunks = [json.dumps(line).encode() + b"\n" for line in lines]
        return StreamReply("application/x-ndjson", chunks)
