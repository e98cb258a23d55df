"""Ollama (a local or remote `ollama serve`): chat and embeddings on the official `ollama` SDK,
and `ollama_reachable`, which the default answerer asks before choosing Ollama."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Sequence

import httpx
import ollama

from projections.providers._common import (
    DEFAULT_RETRY,
    RetryPolicy,
    Timeouts,
    env_key,
    status_error,
    stream_cut_short,
    transport_failure,
)
from projections.providers.embeddings import RemoteEmbedder
from projections.providers.errors import ProviderError, ProviderUnavailable
from projections.providers.llm import ChatMessage, RemoteLLM, Usage

OLLAMA_URL = "http://127.0.0.1:11434"

KNOWN_DIMS = {
    "nomic-embed-text": 768,
    "mxbai-embed-large": 1024,
    "all-minilm": 384,
    "snowflake-arctic-embed": 1024,
    "bge-m3": 1024,
}

# Ollama loads a model into memory on its first request, which can take tens of seconds.
OLLAMA_TIMEOUTS = Timeouts(connect=5.0, read=300.0)


def ollama_url(base_url: str | None = None) -> str:
    """The server's URL: `base_url`, else $OLLAMA_HOST, else the local default; a bare
    "host:port" gets http:// (as the ollama CLI accepts it)."""
    url = (base_url or os.environ.get("OLLAMA_HOST") or OLLAMA_URL).strip().rstrip("/")
    if "://" not in url:
        url = "http://" + url
    return url


async def ollama_reachable(base_url: str | None = None, timeout: float = 0.5) -> bool:  # noqa: ASYNC109 - one bound for connect and answer, handed to httpx
    """Whether an Ollama server answers at `base_url` within `timeout` seconds."""
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            response = await client.get(ollama_url(base_url) + "/api/version")
            return response.status_code == 200 and "version" in response.json()
    except (httpx.HTTPError, OSError, ValueError):
        return False


def _model_key(model: str) -> str:
    return model.strip().removesuffix(":latest")


def _client(
    api_key: str | None, base_url: str | None, timeouts: Timeouts
) -> tuple[ollama.AsyncClient, str, str | None]:
    where = ollama_url(base_url)
    # A local server takes no key; Ollama's cloud and authenticating proxies take a bearer token.
    key = api_key or env_key("OLLAMA_API_KEY")
    headers = {"authorization": f"Bearer {key}"} if key else None
    client = ollama.AsyncClient(
        host=where,
        timeout=httpx.Timeout(timeouts.read, connect=timeouts.connect),
        headers=headers,
    )
    return client, where, key


def _translate(
    provider: str, exc: Exception, where: str, secret: str | None
) -> ProviderError | None:
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

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeouts: Timeouts = OLLAMA_TIMEOUTS,
        retry: RetryPolicy = DEFAULT_RETRY,
    ) -> None:
        client, where, key = _client(api_key, base_url, timeouts)
        super().__init__(model, where=where, retry=retry, secret=key)
        self._client = client

    async def aclose(self) -> None:
        await self._client.close()

    def _translate(self, exc: Exception) -> ProviderError | None:
        return _translate(self.provider, exc, self._where, self._secret)

    async def _stream_once(
        self, messages: Sequence[ChatMessage], *, max_tokens: int, temperature: float
    ) -> AsyncIterator[str | Usage]:
        stream = await self._client.chat(
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

    def __init__(
        self,
        model: str = "nomic-embed-text",
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        dimensions: int | None = None,
        batch_size: int | None = 64,
        concurrency: int = 2,
        timeouts: Timeouts = OLLAMA_TIMEOUTS,
        retry: RetryPolicy = DEFAULT_RETRY,
    ) -> None:
        client, where, key = _client(api_key, base_url, timeouts)
        # "x:latest" and "x" are the same model to Ollama, and must be one cache key.
        model = _model_key(model)
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
        response = await self._client.embed(
            model=self.model_name, input=texts, dimensions=self.dimensions
        )
        return [list(vector) for vector in response.embeddings]
