"""OpenAI, and every server that speaks its API (vLLM, NVIDIA NIM, Hugging Face TGI, Meta's Llama
API, LiteLLM, llama.cpp's server…) through a base URL: chat completions and embeddings, on the
official `openai` SDK."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from typing import Any

import openai

from projections.providers._common import stream_cut_short
from projections.providers._stainless import StainlessConnection
from projections.providers.embeddings import RemoteEmbedder
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


class _OpenAIConnection(StainlessConnection):
    sdk = openai
    client_class = openai.AsyncOpenAI
    default_url = OPENAI_URL
    label = "OpenAI"
    key_variable = "OPENAI_API_KEY"
    env_key_with_base_url = False
    client: openai.AsyncOpenAI

    def status_of(self, exc: Any) -> tuple[int, str]:
        return exc.status_code, _error_message(exc.body, exc.message)

    def message_of(self, exc: Any) -> str:
        return _error_message(exc.body, exc.message)


def _error_message(body: object, fallback: str) -> str:
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return inner["message"]
        if isinstance(inner, str):
            return inner
    return fallback


class OpenAIChat(RemoteLLM):
    """Chat completions from OpenAI or an OpenAI-compatible server (`base_url` ends in /v1)."""

    provider = "openai"
    connection = _OpenAIConnection
    _conn: _OpenAIConnection

    def _params(self, max_tokens: int, temperature: float) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if "api.openai.com" in self._where:
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
        stream = await self._conn.client.chat.completions.create(
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
    default_model = "text-embedding-3-small"
    known_dims = KNOWN_DIMS
    connection = _OpenAIConnection
    _conn: _OpenAIConnection

    async def _embed_batch(self, texts: list[str]) -> list[list[float]]:
        extra: dict[str, Any] = {}
        if self.dimensions is not None:
            extra["dimensions"] = self.dimensions
        response = await self._conn.client.embeddings.create(
            model=self.model_name,
            input=texts,
            # Floats, not the SDK's default base64: some compatible servers only speak floats.
            encoding_format="float",
            **extra,
        )
        ordered = sorted(response.data, key=lambda item: item.index)
        return [list(item.embedding) for item in ordered]
