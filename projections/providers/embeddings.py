"""Embedders: the `Embedder` protocol (met by the local default and by every remote provider) and
the base class the remote ones share (input checks, batching within each API's limits, a few
batches in flight at once, retries, one dimension for every vector)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import ClassVar, Protocol, runtime_checkable

from projections.providers._common import (
    DEFAULT_RETRY,
    DEFAULT_TIMEOUTS,
    Caught,
    Connection,
    RetryPolicy,
    Timeouts,
    with_retries,
)
from projections.providers.errors import ProviderBadRequest, ProviderError


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into vectors, one per text, in order."""

    model: str
    """The embedding cache's key for this model and its settings, e.g.
    "openai:text-embedding-3-small", "ollama:nomic-embed-text", "gemini:gemini-embedding-001";
    a reduced output size is part of it ("openai:text-embedding-3-large@256")."""
    dim: int | None
    """Length of every vector; None until the first answer when the model is not a known one."""

    async def embed(self, texts: list[str]) -> list[list[float]]:
        """One vector per text, in the order given."""
        ...


def batches(texts: Sequence[str], max_count: int, max_chars: int | None) -> list[list[str]]:
    """`texts` cut in order into runs of at most `max_count` texts and, where `max_chars` is set,
    at most that many characters (a longer single text still goes alone: the API judges it)."""
    out: list[list[str]] = []
    run: list[str] = []
    size = 0
    for text in texts:
        over_chars = max_chars is not None and run and size + len(text) > max_chars
        if len(run) >= max_count or over_chars:
            out.append(run)
            run, size = [], 0
        run.append(text)
        size += len(text)
    if run:
        out.append(run)
    return out


class RemoteEmbedder:
    """The shared half of every remote embedder.

    A subclass sets `provider`, `connection` (its SDK's client), `max_batch` (the API's limit of
    inputs per request), `default_model` and maybe `max_batch_chars`, `known_dims` and other
    defaults, and implements `_embed_batch` (one request).
    """

    provider: ClassVar[str]
    connection: ClassVar[type[Connection]]
    max_batch: ClassVar[int]
    max_batch_chars: ClassVar[int | None] = None
    default_model: ClassVar[str]
    known_dims: ClassVar[Mapping[str, int]] = {}
    """Vector sizes of the provider's own models; any other model's size is learnt from its answer."""
    default_batch_size: ClassVar[int | None] = None
    """Texts per request when the caller does not say; None: `max_batch`."""
    default_concurrency: ClassVar[int] = 4
    default_timeouts: ClassVar[Timeouts] = DEFAULT_TIMEOUTS

    def __init__(
        self,
        model: str | None = None,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        dimensions: int | None = None,
        batch_size: int | None = None,
        concurrency: int | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
    ) -> None:
        """None for `model`, `batch_size`, `concurrency` or `timeouts` means the provider's
        default; `dimensions` asks for shorter vectors where the model can give them."""
        self._conn = self.connection(
            self.provider,
            api_key=api_key,
            base_url=base_url,
            timeouts=timeouts or self.default_timeouts,
        )
        model = self._model_name(self.default_model if model is None else model)
        if batch_size is None:
            batch_size = self.default_batch_size
        concurrency = self.default_concurrency if concurrency is None else concurrency
        if not model or not model.strip():
            raise ProviderBadRequest(self.provider, "no embedding model name was given")
        if dimensions is not None and dimensions < 1:
            raise ProviderBadRequest(
                self.provider, f"dimensions must be positive, not {dimensions}"
            )
        if batch_size is not None and not 1 <= batch_size <= self.max_batch:
            raise ProviderBadRequest(
                self.provider,
                f"batch_size must be between 1 and {self.max_batch}, not {batch_size}",
            )
        if concurrency < 1:
            raise ProviderBadRequest(
                self.provider, f"concurrency must be at least 1, not {concurrency}"
            )
        self.model_name = model
        # A reduced output size gives different vectors: it must be part of the cache key.
        self.model = f"{self.provider}:{model}" + (f"@{dimensions}" if dimensions else "")
        self.dim = dimensions or self.known_dims.get(model)
        self.dimensions = dimensions
        self.batch_size = batch_size or self.max_batch
        self._concurrency = concurrency
        self._where = self._conn.where
        self._retry = retry

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r}, url={self._where!r})"

    def _model_name(self, model: str) -> str:
        """The model as the cache knows it; a provider whose API takes several spellings of one
        model folds them here."""
        return model

    async def _embed_batch(self, texts: list[str]) -> list[list[float]]:
        raise NotImplementedError

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._conn.aclose()

    async def embed(self, texts: list[str]) -> list[list[float]]:
        """One vector per text, in order. Raises ProviderError subclasses."""
        if isinstance(texts, str) or not isinstance(texts, Sequence):
            raise ProviderBadRequest(
                self.provider, f"embed takes a list of texts, not a {type(texts).__name__}"
            )
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise ProviderBadRequest(
                    self.provider, f"text {i} is a {type(text).__name__}, not a str"
                )
            if not text.strip():
                raise ProviderBadRequest(
                    self.provider, f"text {i} is empty; there is nothing to embed"
                )
        if not texts:
            return []
        limiter = asyncio.Semaphore(self._concurrency)

        async def run(batch: list[str]) -> list[list[float]]:
            async with limiter:
                return await with_retries(self._retry, lambda: self._guarded(batch))

        tasks = [
            asyncio.ensure_future(run(batch))
            for batch in batches(texts, self.batch_size, self.max_batch_chars)
        ]
        try:
            results = await asyncio.gather(*tasks)
        except BaseException:
            # One batch failed: stop the others rather than leave them running unobserved.
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        return [vector for result in results for vector in result]

    async def _guarded(self, batch: list[str]) -> list[list[float]]:
        """One request, its failures as ProviderErrors, its answer checked for shape."""
        vectors: list[list[float]] = []
        caught = Caught(self._conn.translate)
        with caught:
            vectors = await self._embed_batch(batch)
        if caught.error is not None:
            raise caught.unchained()
        if len(vectors) != len(batch):
            raise ProviderError(
                self.provider,
                f"asked for {len(batch)} embeddings, got {len(vectors)}",
                secret=self._conn.secret,
            )
        for vector in vectors:
            if self.dim is None:
                self.dim = len(vector)
            if len(vector) != self.dim:
                raise ProviderError(
                    self.provider,
                    f"{self.model} returned a vector of {len(vector)} dimensions, "
                    f"expected {self.dim}",
                )
        return vectors
