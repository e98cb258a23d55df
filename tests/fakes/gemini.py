"""A fake Gemini API (generativelanguage.googleapis.com): generateContent,
streamGenerateContent?alt=sse, embedContent and batchEmbedContents under /v1beta (and /v1).

Wire format as Google serves it: the key in `x-goog-api-key` (or `?key=`), a wrong key answered
with 400 INVALID_ARGUMENT and reason API_KEY_INVALID (Gemini does not use 401 for that), a missing
key with 403 PERMISSION_DENIED, 429 RESOURCE_EXHAUSTED with a google.rpc.RetryInfo, SSE events
`data: {GenerateContentResponse}` separated by CRLF CRLF with cumulative usageMetadata and no end
marker but the last chunk's finishReason, a refused prompt as promptFeedback.blockReason
(`block_reason`), and at most 100 requests per batchEmbedContents.
"""

from __future__ import annotations

import json
import re
from typing import Any

from tests.fakes.base import (
    FakeServer,
    Recorded,
    Reply,
    StreamReply,
    count_tokens,
    fake_vector,
    pieces,
)

MAX_BATCH = 100
MODEL_DIMS = {"gemini-embedding-001": 3072, "text-embedding-004": 768}

_PATH = re.compile(r"^/(v1beta|v1)/models/([^/:]+):(\w+)$")

_STATUS = {
    400: ("INVALID_ARGUMENT", "Request contains an invalid argument."),
    404: ("NOT_FOUND", "Requested entity was not found."),
    429: (
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota, please check your plan and billing details.",
    ),
    500: ("INTERNAL", "An internal error has occurred. Please retry or report it."),
    503: ("UNAVAILABLE", "The model is overloaded. Please try again later."),
}


def _text_of(content: Any) -> str:
    parts = content.get("parts") if isinstance(content, dict) else None
    return "".join(str(p.get("text", "")) for p in parts or [] if isinstance(p, dict))


class FakeGemini(FakeServer):
    """The Gemini API on loopback. `models`, when set, are the only model names it knows."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.models: set[str] | None = None
        self.block_reason: str | None = None  # e.g. "SAFETY": the prompt is refused

    def auth_reply(self, request: Recorded) -> Reply | None:
        key = request.headers.get("x-goog-api-key") or request.query.get("key")
        if key == self.api_key:
            return None
        if not key:
            return Reply(
                403,
                {
                    "error": {
                        "code": 403,
                        "message": "Method doesn't allow unregistered callers (callers without "
                        "established identity). Please use API Key or other form of API "
                        "consumer identity to call this API.",
                        "status": "PERMISSION_DENIED",
                    }
                },
            )
        message = "API key not valid. Please pass a valid API key."
        return Reply(
            400,
            {
                "error": {
                    "code": 400,
                    "message": message,
                    "status": "INVALID_ARGUMENT",
                    "details": [
                        {
                            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                            "reason": "API_KEY_INVALID",
                            "domain": "googleapis.com",
                            "metadata": {"service": "generativelanguage.googleapis.com"},
                        },
                        {
                            "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                            "locale": "en-US",
                            "message": message,
                        },
                    ],
                }
            },
        )

    def error_reply(
        self, status: int, message: str | None = None, retry_after: float | None = None
    ) -> Reply:
        name, default = _STATUS.get(status, ("UNKNOWN", "Unknown error."))
        error: dict[str, Any] = {"code": status, "message": message or default, "status": name}
        if retry_after is not None:
            error["details"] = [
                {
                    "@type": "type.googleapis.com/google.rpc.RetryInfo",
                    "retryDelay": f"{retry_after:g}s",
                }
            ]
        return Reply(status, {"error": error})

    def route(self, request: Recorded) -> Reply | StreamReply:
        match = _PATH.match(request.path)
        if request.method != "POST" or match is None:
            return self.error_reply(404, f"The requested URL {request.path} was not found.")
        model, method = match.group(2), match.group(3)
        if self.models is not None and model not in self.models:
            return self.error_reply(
                404,
                f"models/{model} is not found for API version {match.group(1)}, or is not "
                f"supported for {method}.",
            )
        body = request.body or {}
        if method == "generateContent":
            return self._generate(model, body, stream=False)
        if method == "streamGenerateContent":
            if request.query.get("alt") != "sse":
                return self.error_reply(400, "this fake streams only with alt=sse")
            return self._generate(model, body, stream=True)
        if method == "embedContent":
            return self._embed_one(model, body)
        if method == "batchEmbedContents":
            return self._embed_batch(model, body)
        return self.error_reply(404, f"Unknown method {method}.")

    def _vector(self, model: str, request: dict[str, Any]) -> dict[str, Any] | Reply:
        text = _text_of(request.get("content"))
        if not text:
            return self.error_reply(400, "* EmbedContentRequest.content: contents is not specified")
        dim = request.get("outputDimensionality") or MODEL_DIMS.get(model, self.dim)
        return {"values": fake_vector(text, dim)}

    def _embed_one(self, model: str, body: dict[str, Any]) -> Reply:
        vector = self._vector(model, body)
        if isinstance(vector, Reply):
            return vector
        return Reply(200, {"embedding": vector})

    def _embed_batch(self, model: str, body: dict[str, Any]) -> Reply:
        requests = body.get("requests")
        if not isinstance(requests, list) or not requests:
            return self.error_reply(400, "* BatchEmbedContentsRequest.requests: is empty")
        if len(requests) > MAX_BATCH:
            return self.error_reply(
                400,
                f"* BatchEmbedContentsRequest.requests: at most {MAX_BATCH} requests can be in "
                "one batch",
            )
        vectors = []
        for request in requests:
            if request.get("model") != f"models/{model}":
                return self.error_reply(
                    400,
                    f"* BatchEmbedContentsRequest.model: {request.get('model')} does not match "
                    f"models/{model}",
                )
            vector = self._vector(model, request)
            if isinstance(vector, Reply):
                return vector
            vectors.append(vector)
        return Reply(200, {"embeddings": vectors})

    def _generate(self, model: str, body: dict[str, Any], *, stream: bool) -> Reply | StreamReply:
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            return self.error_reply(
                400, "* GenerateContentRequest.contents: contents is not specified"
            )
        for content in contents:
            if content.get("role") not in ("user", "model"):
                return self.error_reply(400, "Please use a valid role: user, model.")
        prompt = " ".join(_text_of(c) for c in contents)
        prompt += " " + _text_of(body.get("systemInstruction"))
        prompt_tokens = count_tokens(prompt)
        deltas = pieces(self.answer)

        def chunk(text: str, done: int, last: bool) -> dict[str, Any]:
            candidate: dict[str, Any] = {
                "content": {"parts": [{"text": text}], "role": "model"},
                "index": 0,
            }
            if last:
                candidate["finishReason"] = "STOP"
            return {
                "candidates": [candidate],
                "usageMetadata": {
                    "promptTokenCount": prompt_tokens,
                    "candidatesTokenCount": done,
                    "totalTokenCount": prompt_tokens + done,
                },
                "modelVersion": model,
                "responseId": "fake-response-1",
            }

        if self.block_reason is not None:
            # A refused prompt: no candidates, only the feedback (a 200, as Gemini answers it).
            refused = {
                "promptFeedback": {"blockReason": self.block_reason},
                "usageMetadata": {
                    "promptTokenCount": prompt_tokens,
                    "totalTokenCount": prompt_tokens,
                },
                "modelVersion": model,
            }
            if not stream:
                return Reply(200, refused)
            return StreamReply(
                "text/event-stream", [b"data: " + json.dumps(refused).encode() + b"\r\n\r\n"]
            )
        if not stream:
            return Reply(200, chunk(self.answer, len(deltas), True))
        chunks = [
            b"data: " + json.dumps(chunk(text, i + 1, i == len(deltas) - 1)).encode() + b"\r\n\r\n"
            for i, text in enumerate(deltas)
        ]
        return StreamReply("text/event-stream", chunks)
