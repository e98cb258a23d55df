"""OpenAI, and every server that speaks its API (vLLM, NVIDIA NIM, Hugging Face TGI, Meta's Llama
API, LiteLLM, llama.cpp's server…) through a base URL: chat completions and embeddings, on the
official `openai` SDK."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from typing import Any

import openai

from projections.providers._common import (
    DEFAULT_RETRY,
    DEFAULT_TIMEOUTS,
    RetryPolicy,
    Timeouts,
    env_key,
    parse_retry_after,
    status_error,
    stream_cut_short,
    transport_failure,
)
from projections.providers.embeddings import RemoteEmbedder
from projections.providers.errors import ProviderConfigError, ProviderError, ProviderUnavailable
from projections.providers.llm import ChatMessage, RemoteLLM, Usage

OPENAI_URL = "https://api.openai.com/v1"

# Vector sizes of OpenAI's own embedding models; any other model's size is learnt from its answer.
KNOWN_DIMS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
# OpenAI's reasoning models refuse any temperature but the default; the request leaves it out.
_FIXED_TEMPERATURE = re.compile(r"^(o\d|gpt-5)")


def _client(
    provider: str, api_key: str | None, base_url: str | None, timeouts: Timeouts
) -> tuple[openai.AsyncOpenAI, str, str | None]:
    where = (base_url or OPENAI_URL).rstrip("/")
    key = api_key or (env_key("OPENAI_API_KEY") if base_url is None else None)
    if key is None and base_url is None:
        raise ProviderConfigError(
            provider,
            "no API key is configured for OpenAI: set one in the book's LLM settings "
            "or in the OPENAI_API_KEY environment variable",
        )
    client = openai.AsyncOpenAI(
        # A self-hosted server without authentication ignores the header; the SDK insists on one.
        api_key=key or "no-key",
        base_url=where,
        timeout=openai.Timeout(timeouts.read, connect=timeouts.connect),
        max_retries=0,  # RetryPolicy decides, the same way for every provider
    )
    return client, where, key


def _error_message(body: object, fallback: str) -> str:
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return inner["message"]
        if isinstance(inner, str):
            return inner
    return fallback


def _translate(
    provider: str, exc: Exception, where: str, secret: str | None
) -> ProviderError | None:
    if isinstance(exc, openai.APITimeoutError):
        return ProviderUnavailable(provider, f"{where} did not answer in time")
    if isinstance(exc, openai.APIConnectionError):
        # The SDK wraps the transport's exception; it tells a refused connection from one that
        # dropped mid-answer.
        cause = exc.__cause__ or exc.__context__
        named = transport_failure(provider, cause, where) if cause is not None else None
        return named or ProviderUnavailable(provider, f"could not connect to {where}")
    if isinstance(exc, openai.APIStatusError):
        return status_error(
            provider,
            exc.status_code,
            _error_message(exc.body, exc.message),
            secret=secret,
            retry_after=parse_retry_after(exc.response.headers),
        )
    if isinstance(exc, openai.APIError):
        # An error event inside a stream, or an answer the SDK could not read.
        return ProviderError(provider, _error_message(exc.body, exc.message), secret=secret)
    return transport_failure(provider, exc, where)


class OpenAIChat(RemoteLLM):
    """Chat completions from OpenAI or an OpenAI-compatible server (`base_url` ends in /v1)."""

    provider = "openai"

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
        retry: RetryPolicy = DEFAULT_RETRY,
    ) -> None:
        client, where, key = _client(self.provider, api_key, base_url, timeouts)
        super().__init__(model, where=where, retry=retry, secret=key)
        self._client = client
        self._official = base_url is None or "api.openai.com" in where

    async def aclose(self) -> None:
        await self._client.close()

    def _translate(self, exc: Exception) -> ProviderError | None:
        return _translate(self.provider, exc, self._where, self._secret)

    def _params(self, max_tokens: int, temperature: float) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if self._official:
            # OpenAI deprecated max_tokens (its reasoning models refuse it); compatible servers
            # do not all know the new name, so they get the old one.
            params["max_completion_tokens"] = max_tokens
            if not _FIXED_TEMPERATURE.match(self.model):
                params["temperature"] = temperature
        else:
            params["max_tokens"] = max_tokens
            params["temperature"] = temperature
        return params

    async def _stream_once(
        self, messages: Sequence[ChatMessage], *, max_tokens: int, temperature: float
    ) -> AsyncIterator[str | Usage]:
        stream = await self._client.chat.completions.create(
            model=self.model,
            messages=[{"role": m.role, "content": m.content} for m in messages],  # type: ignore[misc]
            stream=True,
            stream_options={"include_usage": True},
            **self._params(max_tokens, temperature),
        )
        finished = False
        usage = Usage()
        try:
            async for chunk in stream:
                for choice in chunk.choices:
                    if choice.delta is not None and choice.delta.content:
                        yield choice.delta.content
                    if choice.finish_reason is not None:
                        finished = True
                if chunk.usage is not None:
                    usage = Usage(
                        prompt=chunk.usage.prompt_tokens or 0,
                        completion=chunk.usage.completion_tokens or 0,
                    )
        finally:
            await stream.close()
        # The SDK ends quietly when the connection closes before `[DONE]`; a choice without a
        # finish_reason means the answer was cut.
        if not finished:
            raise stream_cut_short(self.provider, self._where)
        yield usage


class OpenAIEmbedder(RemoteEmbedder):
    """Embeddings from OpenAI or an OpenAI-compatible server.

    OpenAI takes at most 2,048 inputs and 300,000 tokens per request; batches stay under both
    (the token budget is kept by characters, counting a character as a token at worst)."""

    provider = "openai"
    max_batch = 2048
    max_batch_chars = 300_000

    def __init__(
        self,
        model: str = "text-embedding-3-small",
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        dimensions: int | None = None,
        batch_size: int | None = None,
        concurrency: int = 4,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
        retry: RetryPolicy = DEFAULT_RETRY,
    ) -> None:
        client, where, key = _client(self.provider, api_key, base_url, timeouts)
        super().__init__(
            model,
            where=where,
            retry=retry,
            secret=key,
            dim=KNOWN_DIMS.get(model),
            dimensions=dimensions,
            batch_size=batch_size,
            concurrency=concurrency,
        )
        self._client = client

    async def aclose(self) -> None:
        await self._client.close()

    def _translate(self, exc: Exception) -> ProviderError | None:
        return _translate(self.provider, exc, self._where, self._secret)

    async def _embed_batch(self, texts: list[str]) -> list[list[float]]:
        extra: dict[str, Any] = {}
        if self.dimensions is not None:
            extra["dimensions"] = self.dimensions
        response = await self._client.embeddings.create(
            model=self.model_name,
            input=texts,
            # Floats, not the SDK's default base64: some compatible servers only speak floats.
            encoding_format="float",
            **extra,
        )
        ordered = sorted(response.data, key=lambda item: item.index)
        return [list(item.embedding) for item in ordered]
