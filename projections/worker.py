"""The read side assembled from settings: views, embedder, vector index, projections, runner.

`open_worker` is what `ragstack serve` (role all or worker) and the tests call; a gateway process
opens the same read models to answer queries without running the runner's folding itself.
"""

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from engine.blobs import BlobStore
from engine.log import Logs
from engine.settings import ProviderSettings, Settings, VectorSettings
from events import Body, RecordedEvent
from projections.answers import stream_answer
from projections.catalogue import Catalogue
from projections.chat import open_chat_view
from projections.embedding_cache import CachedEmbedder, Embedder, EmbeddingCache
from projections.ingest import Ingest
from projections.providers import LLM, ProviderConfig, make_embedder, make_llm
from projections.runner import Projection, Runner
from projections.store import Views
from projections.vectors import Vectors
from projections.vectorstores import VectorIndex

log = logging.getLogger(__name__)

DEFAULT_MODELS = {
    "embed": {
        "openai": "text-embedding-3-small",
        "gemini": "gemini-embedding-001",
        "ollama": "nomic-embed-text",
    },
    "chat": {
        "openai": "gpt-4o-mini",
        "gemini": "gemini-2.5-flash",
        "ollama": "llama3.2",
        "anthropic": "claude-sonnet-4-5",
    },
}


class LogSource:
    """The runner's view of the engine's logs."""

    def __init__(self, logs: Logs) -> None:
        self.logs = logs

    def follow_chapter(self, chapter: str, after: int) -> AsyncIterator[RecordedEvent]:
        """A chapter's events after `after`, then its tail."""
        return self.logs.chapter(chapter).follow(after)

    def follow_book(self, book: str, after: int) -> AsyncIterator[RecordedEvent]:
        """A book's events after `after`, then its tail."""
        return self.logs.book(book).follow(after)

    async def head(self, chapter: str) -> int:
        """A chapter's last rev now."""
        return (await self.logs.chapter(chapter).head()).rev

    async def books(self) -> list[str]:
        """Every book with a log."""
        return await self.logs.book_ids()


def embedder_from(settings: ProviderSettings, settings_dir: Settings) -> Embedder:
    """The configured embedder; `auto` and `local` are the offline MiniLM model."""
    if settings.kind in ("auto", "local"):
        from projections.providers.local_embedder import LocalEmbedder

        return LocalEmbedder(cache_dir=settings_dir.data / "models")
    model = settings.model or DEFAULT_MODELS["embed"].get(settings.kind, "")
    return make_embedder(
        ProviderConfig(
            kind=settings.kind,  # type: ignore[arg-type]
            model=model,
            base_url=settings.base_url,
            api_key=settings.api_key,
        )
    )


async def llm_from(settings: ProviderSettings) -> LLM | None:
    """The configured answerer; `auto` is Ollama when reachable, else None (extractive)."""
    if settings.kind == "extractive":
        return None
    if settings.kind == "auto":
        from projections.providers import ollama_reachable

        if not await ollama_reachable(settings.base_url):
            return None
        kind = "ollama"
    else:
        kind = settings.kind
    model = settings.model or DEFAULT_MODELS["chat"].get(kind, "")
    return make_llm(
        ProviderConfig(
            kind=kind,  # type: ignore[arg-type]
            model=model,
            base_url=settings.base_url,
            api_key=settings.api_key,
        )
    )


def index_from(settings: VectorSettings, data: Settings) -> VectorIndex:
    """The configured vector index; Chroma embedded in the data directory by default."""
    if settings.kind == "chroma":
        from projections.vectorstores.chroma import ChromaIndex

        if settings.url:
            return ChromaIndex.http(settings.url)
        return ChromaIndex.embedded(data.data / "chroma")
    if settings.kind == "pinecone":
        from projections.vectorstores.pinecone import PineconeIndex

        if not settings.url or not settings.api_key:
            raise ValueError("the pinecone index needs vectors.url (the index host) and an api_key")
        return PineconeIndex(settings.url, settings.api_key)
    raise ValueError(f"unknown vector index kind {settings.kind!r}; expected chroma or pinecone")


@dataclass
class Worker:
    """The read models, the runner that folds them, and the search/answer entry points."""

    logs: Logs
    blobs: BlobStore
    views: Views
    cache: EmbeddingCache
    embedder: CachedEmbedder
    index: VectorIndex
    catalogue: Catalogue
    ingest: Ingest
    vectors: Vectors
    chat: Projection
    runner: Runner
    llm: LLM | None = None
    _closers: list = field(default_factory=list)

    @property
    def projections(self) -> list[Projection]:
        """Every projection the runner drives."""
        return [self.catalogue, self.ingest, self.vectors, self.chat]

    async def append(self, chapter: str, body: Body, *, actor: str) -> int:
        """Append to a chapter's log (how ingest writes its facts back)."""
        return (await self.logs.chapter(chapter).append(body, actor=actor)).rev

    async def close(self) -> None:
        """Stop the runner and close every store."""
        await self.runner.stop()
        for close in reversed(self._closers):
            with contextlib.suppress(Exception):
                await close()


async def open_worker(
    settings: Settings,
    logs: Logs,
    blobs: BlobStore,
    *,
    embedder: Embedder | None = None,
    index: VectorIndex | None = None,
    llm: LLM | None = None,
    use_llm_settings: bool = True,
) -> Worker:
    """Open every read model; the runner is created but not started (call `runner.start()`)."""
    data = settings.data
    views = await Views.open(data / "views.sqlite3")
    closers = [views.close]
    cache = await EmbeddingCache.open(data / "embeddings.sqlite3")
    closers.append(cache.close)
    cached = CachedEmbedder(embedder or embedder_from(settings.embedder, settings), cache)
    index = index or index_from(settings.vectors, settings)
    closers.append(index.close)
    catalogue = Catalogue(views)
    vectors = Vectors(views, blobs, index, cached)
    chat = await open_chat_view(settings.views, views)
    if hasattr(chat, "close"):
        closers.append(chat.close)

    async def append(chapter: str, body: Body, *, actor: str) -> int:
        return (await logs.chapter(chapter).append(body, actor=actor)).rev

    ingest = Ingest(views, blobs, append)
    for projection in (catalogue, ingest, vectors):
        await projection.open()
    if llm is None and use_llm_settings:
        llm = await llm_from(settings.llm)
    projections: list[Projection] = [catalogue, ingest, vectors, chat]  # type: ignore[list-item]
    runner = Runner(LogSource(logs), projections)
    return Worker(
        logs=logs,
        blobs=blobs,
        views=views,
        cache=cache,
        embedder=cached,
        index=index,
        catalogue=catalogue,
        ingest=ingest,
        vectors=vectors,
        chat=chat,  # type: ignore[arg-type]
        runner=runner,
        llm=llm,
        _closers=closers,
    )


__all__ = ["LogSource", "Worker", "open_worker", "stream_answer"]
