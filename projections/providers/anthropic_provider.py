"""Anthropic's Messages API (Claude): chat on the official `anthropic` SDK. Anthropic offers no
embeddings, so there is no embedder here."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import anthropic

from projections.providers._common import stream_cut_short
from projections.providers._stainless import StainlessConnection
from projections.providers.llm import ChatMessage, RemoteLLM, Usage

ANTHROPIC_URL = "https://api.anthropic.com"

# The status each error type stands for: an `error` event inside a stream arrives on a 200.
_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}


def _error_of(body: object) -> tuple[str | None, str | None]:
    """(type, message) from Anthropic's error body {"type": "error", "error": {...}}."""
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            kind, message = inner.get("type"), inner.get("message")
            return (
                kind if isinstance(kind, str) else None,
                message if isinstance(message, str) else None,
            )
    return None, None


class _AnthropicConnection(StainlessConnection):
    sdk = anthropic
    client_class = anthropic.AsyncAnthropic
    default_url = ANTHROPIC_URL
    label = "Anthropic"
    key_variable = "ANTHROPIC_API_KEY"
    client: anthropic.AsyncAnthropic

    def status_of(self, exc: Any) -> tuple[int, str]:
        kind, message = _error_of(exc.body)
        status = exc.status_code
        if status < 400:  # an `error` event mid-stream
            status = _ERROR_STATUS.get(kind or "", 500)
        return status, message or exc.message


class AnthropicChat(RemoteLLM):
    """Chat with a Claude model (e.g. "claude-sonnet-5-5")."""

    provider = "anthropic"
    connection = _AnthropicConnection
    _conn: _AnthropicConnection

    async def _stream_once(
        self, messages: Sequence[ChatMessage], *, max_tokens: int, temperature: float
    ) -> AsyncIterator[str | Usage]:
        system = "\n\n".join(m.content for m in messages if m.role == "system")
        params: dict[str, Any] = {}
        if system:
            params["system"] = system  # Anthropic takes the system prompt apart from the turns
        stream = await self._conn.client.messages.create(
            model=self.model,
            # No temperature: API version 2026-10-21 (the SDK's default) refuses sampling
            # parameters, and the SDK no longer offers them. The argument is accepted and unused.
            max_tokens=max_tokens,
            messages=[
                {"role": m.role, "content": m.content}  # type: ignore[misc]
                for m in messages
                if m.role != "system"
            ],
            stream=True,
            **params,
        )
        prompt = completion = 0
        stopped = False
        try:
            async for event in stream:
                if event.type == "message_start":
                    prompt = event.message.usage.input_tokens or 0
                    completion = event.message.usage.output_tokens or 0
                elif event.type == "content_block_delta":
                    if event.delta.type == "text_delta" and event.delta.text:
                        yield event.delta.text
                elif event.type == "message_delta":
                    # output_tokens here is the running total for the whole message.
                    completion = event.usage.output_tokens or completion
                    if getattr(event.usage, "input_tokens", None):
                        prompt = event.usage.input_tokens
                elif event.type == "message_stop":
                    stopped = True
        finally:
            await stream.close()
        if not stopped:
            raise stream_cut_short(self.provider, self._where)
        yield Usage(prompt=prompt, completion=completion)
