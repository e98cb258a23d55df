"""Ollama (a local or remote `ollama serve`): chat and embeddings on the official `ollama` SDK."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import httpx
import ollama

from projections.providers._common import (
    Connection,
    Timeouts,
    env_key,
    status_error,
    stream_cut_short,
    transport_failure,
)
from projections.providers.embeddings import RemoteEmbedder
from projections.providers.errors import ProviderError, ProviderUnavailable
from projections.providers.llm import ChatMessage, RemoteLLM, Usage
from projections.providers.ollama_server import ollama_url

KNOWN_DIMS = {
    "nomic-embed-text": 768,
    "mxbai-embed-large": 1024,
    "all-minilm": 384,
    "snowflake-arctic-embed": 1024,
    "bge-m3": 1024,
}

# Ollama loads a model into memory on its first request, which can take tens of seconds.
OLLAMA_TIMEOUTS = Timeouts(connect=5.0, read=300.0)


class _OllamaConnection(Connection):
    def __init__(
        self, provider: str, *, api_key: str | None, base_url: str | None, timeouts: Timeouts
    ) -> None:
        self.provider = provider
        self.where = ollama_url(base_url)
        # A local server takes no key; Ollama's cloud and authenticating proxies take a bearer token.
        self.secret = api_key or env_key("OLLAMA_API_KEY")
        self.client = ollama.AsyncClient(
            host=self.where,
            timeout=httpx.Timeout(timeouts.read, connect=timeouts.connect),
            headers={"authorization": f"Bearer {self.secret}"} if self.secret else None,
        )

    async def aclose(self) -> None:
        await self.client.close()

    def translate(self, exc: Exception) -> ProviderError | None:
        provider, where, secret = self.provider, self.where, self.secret
        if isinstance(exc, ollama.ResponseError):
            if exc.status_code == -1:
                # An error line inside a stream ({"error": "..."}): the server gave up midway.
                return ProviderUnavailable(provider, str(exc.error), secret=secret)
            message = str(exc.error)
            if exc.status_code == 404 and "not found" in message:
                message += " (run `ollama pull MODEL` on the server)"
            return status_error(provider, exc.status_code, message, secret=secret)
        if type(exc) is ConnectionError or isinstance(exc, httpx.ConnectError):
            # The SDK turns a refused connection into a bare ConnectionError (not when streaming).
            return ProviderUnavailable(
                provider, f"could not connect to {where}; is Ollama running (`ollama serve`)?"
            )
        return transport_failure(provider, exc, where)


class OllamaChat(RemoteLLM):
    """Chat with a model served by Ollama (e.g. "llama3.2")."""

    provider = "ollama"
    connection = _OllamaConnection
    default_timeouts = OLLAMA_TIMEOUTS
    _conn: _OllamaConnection

    async def _stream_once(
        self, messages: Sequence[ChatMessage], *, max_tokens: int, temperature: float
    ) -> AsyncIterator[str | Usage]:
        stream = await self._conn.client.chat(
            model=self.model,
            messages=[{"role": m.role, "content": m.content} for m in messages],
            stream=True,
            options={"num_predict": max_tokens, "temperature": temperature},
        )
        done = False
        usage = Usage()
        async for part in stream:
            if part.message is not None and part.message.content:
                yield part.message.content
            if part.done:
                done = True
                usage = Usage(prompt=part.prompt_eval_count or 0, completion=part.eval_count or 0)
        # The last NDJSON line says done: true; without it the server stopped midway.
        if not done:
            raise stream_cut_short(self.provider, self._where)
        yield usage


class OllamaEmbedder(RemoteEmbedder):
    """Embeddings from a model served by Ollama (/api/embed takes a list of texts)."""

    provider = "ollama"
    # Ollama sets no limit; a moderate batch keeps each request well inside the read timeout.
    max_batch = 1024
    default_batch_size = 64
    default_concurrency = 2
    default_model = "nomic-embed-text"
    known_dims = KNOWN_DIMS
    default_timeouts = OLLAMA_TIMEOUTS
    connection = _OllamaConnection
    _conn: _OllamaConnection

    def _model_name(self, model: str) -> str:
        # "x:latest" and "x" are the same model to Ollama, and must be one cache key.
        return model.strip().removesuffix(":latest")

    async def _embed_batch(self, texts: list[str]) -> list[list[float]]:
        response = await self._conn.client.embed(
            model=self.model_name, input=texts, dimensions=self.dimensions
        )
        return [list(vector) for vector in response.embeddings]
