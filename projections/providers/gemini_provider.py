"""Google Gemini (the Gemini API, generativelanguage.googleapis.com): chat and embeddings on the
official `google-genai` SDK.

The SDK is handed our own httpx client. Left to itself it picks aiohttp when that happens to be
installed, and then gives a stream one *total* timeout (a long answer gets cut) and sleeps 1–10 s
before a silent retry of a refused connection. With httpx it applies `HttpOptions.timeout` to
each read, which is the bound we want; the same number also bounds connecting (the SDK passes one
value per request, so the two cannot differ here).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from projections.providers._common import (
    Connection,
    Timeouts,
    env_key,
    parse_retry_after,
    status_error,
    stream_cut_short,
    transport_failure,
)
from projections.providers.embeddings import RemoteEmbedder
from projections.providers.errors import (
    ProviderAuthError,
    ProviderBadRequest,
    ProviderConfigError,
    ProviderError,
)
from projections.providers.llm import ChatMessage, RemoteLLM, Usage

GEMINI_URL = "https://generativelanguage.googleapis.com"

KNOWN_DIMS = {
    "gemini-embedding-001": 3072,
    "text-embedding-004": 768,
    "embedding-001": 768,
}


class _GeminiConnection(Connection):
    def __init__(
        self, provider: str, *, api_key: str | None, base_url: str | None, timeouts: Timeouts
    ) -> None:
        self.provider = provider
        self.where = (base_url or GEMINI_URL).rstrip("/")
        key = api_key or env_key("GEMINI_API_KEY", "GOOGLE_API_KEY")
        if key is None:
            raise ProviderConfigError(
                provider,
                "no API key is configured for Gemini: set one in the book's LLM settings "
                "or in the GEMINI_API_KEY environment variable",
            )
        self.secret = key
        self.http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeouts.read, connect=timeouts.connect)
        )
        self.client = genai.Client(
            vertexai=False,
            api_key=key,
            http_options=types.HttpOptions(
                base_url=self.where + "/",
                timeout=int(timeouts.read * 1000),  # milliseconds
                retry_options=types.HttpRetryOptions(attempts=1),  # RetryPolicy decides
                httpx_async_client=self.http,
            ),
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    def translate(self, exc: Exception) -> ProviderError | None:
        provider, secret = self.provider, self.secret
        if isinstance(exc, genai_errors.APIError):
            message = exc.message or exc.status or "request failed"
            if _key_rejected(exc.details):
                return ProviderAuthError(
                    provider, f"the API key was rejected: {message}", status=exc.code, secret=secret
                )
            retry_after = _retry_delay(exc.details)
            if retry_after is None and exc.response is not None:
                retry_after = parse_retry_after(getattr(exc.response, "headers", None))
            return status_error(provider, exc.code, message, secret=secret, retry_after=retry_after)
        return transport_failure(provider, exc, self.where)


def _retry_delay(details: object) -> float | None:
    """Seconds from a google.rpc.RetryInfo in an error body ("retryDelay": "17s")."""
    error = details.get("error", details) if isinstance(details, dict) else None
    for item in (error or {}).get("details") or []:
        if isinstance(item, dict) and str(item.get("@type", "")).endswith("RetryInfo"):
            match = re.fullmatch(r"([0-9.]+)s", str(item.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return None


def _key_rejected(details: object) -> bool:
    """Gemini answers a wrong key with 400 INVALID_ARGUMENT and reason API_KEY_INVALID."""
    error = details.get("error", details) if isinstance(details, dict) else None
    for item in (error or {}).get("details") or []:
        if isinstance(item, dict) and item.get("reason") in ("API_KEY_INVALID", "API_KEY_EXPIRED"):
            return True
    return False


def _contents(messages: Sequence[ChatMessage]) -> tuple[str | None, list[types.Content]]:
    """System text apart (Gemini takes it as `system_instruction`), turns as user/model."""
    system = "\n\n".join(m.content for m in messages if m.role == "system") or None
    contents = [
        types.Content(
            role="model" if m.role == "assistant" else "user",
            parts=[types.Part(text=m.content)],
        )
        for m in messages
        if m.role != "system"
    ]
    return system, contents


class GeminiChat(RemoteLLM):
    """Chat with a Gemini model (e.g. "gemini-2.5-flash")."""

    provider = "gemini"
    connection = _GeminiConnection
    _conn: _GeminiConnection

    def _config(self, system: str | None, max_tokens: int, temperature: float) -> Any:
        thinking = None
        if self.model.startswith("gemini-2.5-flash"):
            # 2.5 Flash thinks by default and counts the thinking against max_output_tokens,
            # which can leave a short limit with no answer at all; grounded answers need none.
            thinking = types.ThinkingConfig(thinking_budget=0)
        return types.GenerateContentConfig(
            system_instruction=system,
            max_output_tokens=max_tokens,
            temperature=temperature,
            thinking_config=thinking,
        )

    async def _stream_once(
        self, messages: Sequence[ChatMessage], *, max_tokens: int, temperature: float
    ) -> AsyncIterator[str | Usage]:
        system, contents = _contents(messages)
        stream = await self._conn.client.aio.models.generate_content_stream(
            model=self.model,
            contents=contents,  # type: ignore[arg-type]
            config=self._config(system, max_tokens, temperature),
        )
        finished = False
        usage = Usage()
        async for chunk in stream:
            feedback = chunk.prompt_feedback
            if feedback is not None and feedback.block_reason is not None:
                raise ProviderBadRequest(
                    self.provider, f"Gemini refused the prompt ({feedback.block_reason})"
                )
            for candidate in chunk.candidates or []:
                parts = candidate.content.parts if candidate.content is not None else None
                for part in parts or []:
                    if part.text and not part.thought:
                        yield part.text
                if candidate.finish_reason is not None:
                    finished = True
            meta = chunk.usage_metadata
            if meta is not None:
                # Usage is cumulative in every chunk; the last one holds the totals. Thinking
                # tokens are billed as output.
                usage = Usage(
                    prompt=meta.prompt_token_count or 0,
                    completion=(meta.candidates_token_count or 0)
                    + (meta.thoughts_token_count or 0),
                )
        # Gemini's stream has no end marker but the finish reason of the last chunk.
        if not finished:
            raise stream_cut_short(self.provider, self._where)
        yield usage


class GeminiEmbedder(RemoteEmbedder):
    """Embeddings from the Gemini API (batchEmbedContents takes at most 100 texts a request)."""

    provider = "gemini"
    max_batch = 100
    default_model = "gemini-embedding-001"
    known_dims = KNOWN_DIMS
    connection = _GeminiConnection
    _conn: _GeminiConnection

    async def _embed_batch(self, texts: list[str]) -> list[list[float]]:
        config = None
        if self.dimensions is not None:
            config = types.EmbedContentConfig(output_dimensionality=self.dimensions)
        response = await self._conn.client.aio.models.embed_content(
            model=self.model_name,
            contents=texts,  # type: ignore[arg-type]
            config=config,
        )
        return [list(e.values or []) for e in response.embeddings or []]
