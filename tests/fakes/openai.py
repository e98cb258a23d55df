"""A fake OpenAI API: /v1/chat/completions (JSON and SSE), /v1/embeddings, /v1/models.

Wire format as OpenAI serves it: bearer-key auth with OpenAI's 401 body, SSE chunks
`data: {chat.completion.chunk}` ending in `data: [DONE]`, usage in a last chunk with empty
`choices` when `stream_options.include_usage` is set, embeddings as floats or base64 float32,
and the 2,048-input limit per embeddings request.
"""

from __future__ import annotations

import base64
import struct
import time
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
    sse,
    wrong_role,
)

MAX_EMBED_INPUTS = 2048
# OpenAI's own embedding models answer in their real sizes; any other model in `dim`.
MODEL_DIMS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}

_STATUS_ERRORS = {
    400: ("invalid_request_error", None, "Invalid request."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist."),
    429: (
        "requests",
        "rate_limit_exceeded",
        "Rate limit reached for requests per min (RPM): Limit 3, Used 3, Requested 1.",
    ),
    500: (
        "server_error",
        None,
        "The server had an error while processing your request. Sorry about that!",
    ),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}


def _mask(key: str) -> str:
    # OpenAI shows the first and last characters of a rejected key, never the whole key.
    return key[:3] + "*" * max(0, len(key) - 7) + key[-4:] if len(key) > 7 else "***"


class FakeOpenAI(FakeServer):
    """OpenAI's API on loopback. `models`, when set, are the only model names it knows."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.models: set[str] | None = None

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def auth_reply(self, request: Recorded) -> Reply | None:
        header = request.headers.get("authorization", "")
        if header == f"Bearer {self.api_key}":
            return None
        if not header.startswith("Bearer ") or not header[7:]:
            message = (
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
            )
            code = None
        else:
            message = (
                f"Incorrect API key provided: {_mask(header[7:])}. You can find your API key "
                "at https://platform.openai.com/account/api-keys."
            )
            code = "invalid_api_key"
        return Reply(
            401,
            {
                "error": {
                    "message": message,
                    "type": "invalid_request_error",
                    "param": None,
                    "code": code,
                }
            },
        )

    def error_reply(
        self, status: int, message: str | None = None, retry_after: float | None = None
    ) -> Reply:
        kind, code, default = _STATUS_ERRORS.get(status, ("server_error", None, "Error."))
        headers = {"retry-after": f"{retry_after:g}"} if retry_after is not None else {}
        body = {"error": {"message": message or default, "type": kind, "param": None, "code": code}}
        return Reply(status, body, headers)

    def route(self, request: Recorded) -> Reply | StreamReply:
        if request.method == "GET" and request.path == "/v1/models":
            names = sorted(self.models or {"gpt-4o-mini", "text-embedding-3-small"})
            data = [{"id": n, "object": "model", "created": 0, "owned_by": "fake"} for n in names]
            return Reply(200, {"object": "list", "data": data})
        if request.method == "POST" and request.path == "/v1/embeddings":
            return self._embeddings(request.body or {})
        if request.method == "POST" and request.path == "/v1/chat/completions":
            return self._chat(request.body or {})
        return self.error_reply(404, f"Invalid URL ({request.method} {request.path})")

    def _unknown_model(self, model: object) -> Reply | None:
        if not isinstance(model, str) or not model:
            return self.error_reply(400, "you must provide a model parameter")
        if self.models is not None and model not in self.models:
            return self.error_reply(
                404, f"The model `{model}` does not exist or you do not have access to it."
            )
        return None

    def _embeddings(self, body: dict[str, Any]) -> Reply:
        if (bad := self._unknown_model(body.get("model"))) is not None:
            return bad
        inputs = body.get("input")
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not inputs:
            return self.error_reply(400, "'$.input' is invalid.")
        if len(inputs) > MAX_EMBED_INPUTS:
            return self.error_reply(
                400, f"Too many inputs. The max number of inputs is {MAX_EMBED_INPUTS}."
            )
        if any(not isinstance(text, str) or not text for text in inputs):
            return self.error_reply(400, "'$.input' is invalid.")
        dim = body.get("dimensions") or MODEL_DIMS.get(body["model"], self.dim)
        data = []
        for i, text in enumerate(inputs):
            vector = fake_vector(text, dim)
            if body.get("encoding_format") == "base64":
                packed = struct.pack(f"<{dim}f", *vector)
                embedding: Any = base64.b64encode(packed).decode()
            else:
                embedding = vector
            data.append({"object": "embedding", "index": i, "embedding": embedding})
        tokens = sum(count_tokens(text) for text in inputs)
        return Reply(
            200,
            {
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
        )

    def _chat(self, body: dict[str, Any]) -> Reply | StreamReply:
        if (bad := self._unknown_model(body.get("model"))) is not None:
            return bad
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return self.error_reply(400, "'messages' must contain at least one message.")
        if wrong_role(messages, ("system", "developer", "user", "assistant")):
            return self.error_reply(400, "Invalid value for 'messages[].role'.")
        prompt = prompt_tokens(messages)
        answer = self.next_answer()
        deltas = pieces(answer)
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": len(deltas),
            "total_tokens": prompt + len(deltas),
        }
        base = {
            "id": "chatcmpl-fake0001",
            "created": int(time.time()),
            "model": body["model"],
            "system_fingerprint": "fp_fake",
        }
        if not body.get("stream"):
            choice = {
                "index": 0,
                "message": {"role": "assistant", "content": answer, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
            return Reply(
                200, {**base, "object": "chat.completion", "choices": [choice], "usage": usage}
            )
        with_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        extra = {"usage": None} if with_usage else {}

        def chunk(delta: dict[str, Any], finish: str | None) -> bytes:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            return sse({**base, "object": "chat.completion.chunk", "choices": [choice], **extra})

        chunks = [chunk({"role": "assistant", "content": "", "refusal": None}, None)]
        chunks += [chunk({"content": text}, None) for text in deltas]
        chunks.append(chunk({}, "stop"))
        if with_usage:
            chunks.append(
                sse({**base, "object": "chat.completion.chunk", "choices": [], "usage": usage})
            )
        chunks.append(sse("[DONE]"))
        return StreamReply("text/event-stream; charset=utf-8", chunks)
