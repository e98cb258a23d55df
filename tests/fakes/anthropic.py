"""A fake Anthropic Messages API: POST /v1/messages (JSON, or SSE with `stream: true`).

Wire format as Anthropic serves it: the key in `x-api-key` or as a bearer token, a required
`anthropic-version` header (from 2026-10-21 on, temperature/top_p/top_k are refused), errors as `{"type": "error", "error": {"type": …, "message": …}, "request_id": …}`
(authentication_error 401, rate_limit_error 429 with retry-after, api_error 500,
overloaded_error 529), `max_tokens` required, and the SSE events message_start,
content_block_start, ping, content_block_delta (text_delta), content_block_stop, message_delta
(stop_reason, output_tokens) and message_stop. `overloaded_after_chunks = N` sends an `error`
event (overloaded_error) after N events, as Anthropic does when it gives up mid-answer.
"""

from __future__ import annotations

from typing import Any

from tests.fakes.base import (
    FakeServer,
    Recorded,
    Reply,
    StreamReply,
    pieces,
    prompt_tokens,
    sse,
    wrong_role,
)

SAMPLING_REMOVED = "2026-10-21"

_STATUS = {
    400: ("invalid_request_error", "Invalid request."),
    401: ("authentication_error", "invalid x-api-key"),
    403: ("permission_error", "Your API key does not have permission to use this resource."),
    404: ("not_found_error", "Not found."),
    429: ("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit."),
    500: ("api_error", "Internal server error."),
    529: ("overloaded_error", "Overloaded"),
}


def _error(kind: str, message: str) -> dict[str, Any]:
    return {
        "type": "error",
        "error": {"type": kind, "message": message},
        "request_id": "req_fake0001",
    }


class FakeAnthropic(FakeServer):
    """Anthropic's API on loopback. `models`, when set, are the only model names it knows."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.models: set[str] | None = None
        self.overloaded_after_chunks: int | None = None

    def auth_reply(self, request: Recorded) -> Reply | None:
        # SDK 2.x sends the key as a bearer token; older clients in x-api-key, which wins when
        # both are present.
        bearer = request.headers.get("authorization", "")
        key = request.headers.get("x-api-key") or bearer.removeprefix("Bearer ") or None
        if key == self.api_key:
            return None
        if not key:
            return Reply(401, _error("authentication_error", "x-api-key header is required"))
        return Reply(401, _error("authentication_error", "invalid x-api-key"))

    def error_reply(
        self, status: int, message: str | None = None, retry_after: float | None = None
    ) -> Reply:
        kind, default = _STATUS.get(status, ("api_error", "Internal server error."))
        headers = {"retry-after": f"{retry_after:g}"} if retry_after is not None else {}
        return Reply(status, _error(kind, message or default), headers)

    def route(self, request: Recorded) -> Reply | StreamReply:
        if request.method != "POST" or request.path != "/v1/messages":
            return self.error_reply(404, f"Not found: {request.method} {request.path}")
        version = request.headers.get("anthropic-version")
        if not version:
            return self.error_reply(400, "anthropic-version: header is required")
        return self._messages(request.body or {}, version)

    def _messages(self, body: dict[str, Any], version: str) -> Reply | StreamReply:
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return self.error_reply(400, "model: Field required")
        if self.models is not None and model not in self.models:
            return self.error_reply(404, f"model: {model}")
        if not isinstance(body.get("max_tokens"), int):
            return self.error_reply(400, "max_tokens: Field required")
        for name in ("temperature", "top_p", "top_k"):
            # From API version 2026-10-21 on, sampling parameters are refused outright.
            if name in body and version >= SAMPLING_REMOVED:
                return self.error_reply(400, f"{name}: Extra inputs are not permitted")
        temperature = body.get("temperature", 1.0)
        if not 0.0 <= temperature <= 1.0:
            return self.error_reply(400, "temperature: Input should be less than or equal to 1")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return self.error_reply(400, "messages: at least one message is required")
        if wrong_role(messages, ("user", "assistant")):
            return self.error_reply(
                400, "messages: Unexpected role. Allowed roles are 'user' or 'assistant'"
            )
        prompt = prompt_tokens(messages, str(body.get("system") or ""))
        deltas = pieces(self.answer)
        message = {
            "id": "msg_fake0001",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": prompt, "output_tokens": 1},
        }
        if not body.get("stream"):
            whole = {
                **message,
                "content": [{"type": "text", "text": self.answer}],
                "stop_reason": "end_turn",
                "usage": {"input_tokens": prompt, "output_tokens": len(deltas)},
            }
            return Reply(200, whole)
        events = [
            sse({"type": "message_start", "message": message}, "message_start"),
            sse(
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": ""},
                },
                "content_block_start",
            ),
            sse({"type": "ping"}, "ping"),
        ]
        events += [
            sse(
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": text},
                },
                "content_block_delta",
            )
            for text in deltas
        ]
        events += [
            sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
            sse(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": len(deltas)},
                },
                "message_delta",
            ),
            sse({"type": "message_stop"}, "message_stop"),
        ]
        if self.overloaded_after_chunks is not None:
            cut = self.overloaded_after_chunks
            events = [*events[:cut], sse(_error("overloaded_error", "Overloaded"), "error")]
        return StreamReply("text/event-stream; charset=utf-8", events)
