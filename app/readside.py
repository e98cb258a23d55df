"""The read side assembled from settings: views, embedder, vector index, projections, runner.

`open_read_side` opens every read model; whether this process also folds them is the caller's
choice (`ReadSide.runner.start()`, done by `open_services` for roles all and worker). A gateway
process opens the same read models to answer queries and leaves the folding to a worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from app.configured import embedder_from, index_from, llm_from, reranker_from
from app.settings import Settings
from app.settle import CheckpointSettle, RunnerSettle, Settle
from engine.blobs import BlobStore
from engine.jetstream.checkpoints import PublishedCheckpoints
from engine.jetstream.leases import ChapterLeases
from engine.log import Logs
from events import Body
from projections.catalogue import Catalogue
from projections.chat import ChatView, open_chat_view
from projections.embedding_cache import (
    CachedEmbedder,
    Embedder,
    EmbeddingCache,
    open_embedding_cache,
)
from projections.erasure import Eraser
from projections.fold_snapshots import FoldSnapshots
from projections.ingest import Ingest
from projections.providers import LLM
from projections.providers.local_embedder import MODEL_NAME
from projections.providers.rerank import Reranker
from projections.runner import LogSource, Projection, Runner
from projections.store import Views, open_views
from projections.tree import Trees
from projections.vectors import Vectors
from projections.vectorstores import VectorIndex

if TYPE_CHECKING:  # psycopg is imported only where PostgreSQL is configured
    from projections.chat_postgres import PostgresChatView
    from projections.embedding_cache_postgres import PostgresEmbeddingCache
    from projections.store_postgres import PostgresViews

__all__ = ["ReadSide", "open_read_side"]

log = logging.getLogger(__name__)


@dataclass
class ReadSide:
    """The read models over a set of logs and blobs, the runner that folds them, how to wait for
    them (`settle`) and the server's default answerer."""

    logs: Logs
    blobs: BlobStore
    views: Views | PostgresViews
    """The views database: `<data_dir>/views.sqlite3`, or PostgreSQL (setting `views`)."""
    cache: EmbeddingCache | PostgresEmbeddingCache
    """The embedding cache: `<data_dir>/embeddings.sqlite3`, or beside the views in PostgreSQL."""
    embedder: CachedEmbedder
    index: VectorIndex
    catalogue: Catalogue
    ingest: Ingest
    vectors: Vectors
    chat: ChatView | PostgresChatView
    trees: Trees
    """Each chapter's Merkle tree, from which proofs are served."""
    snapshots: FoldSnapshots
    """The chapter at any rev, from in-memory fold checkpoints (audit, diff, search as of)."""
    runner: Runner
    settle: Settle
    """Read-your-writes: the runner's positions where this process folds, else the stored
    checkpoints (app/settle.py)."""
    llm: LLM | None = None
    """The server's default answerer (None: extractive answers)."""
    reranker: Reranker | None = None
    """The rerank service that reorders retrieved passages (None: no reranking)."""
    rerank_depth: int = 30
    """Passages retrieved for the reranker to reorder."""
    _closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    @property
    def projections(self) -> list[Projection]:
        """Every projection the runner drives."""
        return [self.catalogue, self.ingest, self.vectors, self.chat, self.trees]  # type: ignore[list-item]

    async def close(self) -> None:
        """Stop the runner and close every store."""
        await self.runner.stop()
        for close in reversed(self._closers):
            with contextlib.suppress(Exception):
                await close()


async def _holds_fp32_vectors(views: Views) -> bool:
    """Whether the views hold vectors of the bundled model's fp32 variant: recorded as such, or
    folded before the model was recorded, when fp32 was the only variant."""
    folded = await views.fetchone("SELECT 1 FROM checkpoints WHERE projection = 'vectors' LIMIT 1")
    if folded is None:
        return False
    recorded = await views.fetchall("SELECT DISTINCT model FROM vectors_models")
    return not recorded or any(model == f"local:{MODEL_NAME}" for (model,) in recorded)


async def open_read_side(
    settings: Settings,
    logs: Logs,
    blobs: BlobStore,
    *,
    embedder: Embedder | None = None,
    index: VectorIndex | None = None,
    llm: LLM | None = None,
    use_llm_settings: bool = True,
    folds: bool = True,
    published: PublishedCheckpoints | None = None,
    leases: ChapterLeases | None = None,
) -> ReadSide:
    """Open every read model; the runner is created but not started (call `runner.start()`).

    `folds=False` is a process that never folds (role gateway): it settles on the checkpoints
    folding processes publish in `published` (required then), and never starts a fold of its
    own. Where it folds, the runner publishes there after each batch; with `leases` it folds
    only the chapters whose lease it holds (role worker).
    """
    if not folds and published is None:
        raise ValueError("a process that does not fold needs the published checkpoints")
    data = settings.data
    # Where `views` names PostgreSQL, every read model and the embedding cache live there (the
    # chat view in a pool of its own), so processes on several machines share nothing on disk.
    views = await open_views(settings.views, data / "views.sqlite3")
    closers = [views.close]
    cache = await open_embedding_cache(views, data / "embeddings.sqlite3")
    closers.append(cache.close)
    embedder = embedder or embedder_from(settings.embedder, settings)
    cached = CachedEmbedder(embedder, cache)
    index = index or index_from(settings.vectors, settings)
    closers.append(index.close)
    catalogue = Catalogue(views)
    vectors = Vectors(views, blobs, index, cached)
    chat = await open_chat_view(settings.views, views)
    if not isinstance(chat, ChatView):  # PostgreSQL: a pool of its own
        closers.append(chat.close)

    async def append(chapter: str, body: Body, *, actor: str) -> int:
        return (await logs.chapter(chapter).append(body, actor=actor)).rev

    ingest = Ingest(views, blobs, append)
    trees = Trees(views)
    eraser = Eraser(views, blobs)
    for projection in (eraser, catalogue, ingest, vectors, trees):
        await projection.open()
    if getattr(embedder, "precision", None) == "auto" and await _holds_fp32_vectors(views):
        # An upgrade keeps the variant the index was built with, rather than re-embedding every
        # chapter with int8 unasked: int8 is then chosen by `[embedder] precision = "int8"`.
        embedder.precision = "fp32"  # type: ignore[union-attr]
    resolve = getattr(embedder, "resolve", None)
    if resolve is not None:
        # The bundled model's `auto` precision is measured once per machine (seconds): here, off
        # the event loop, before anything asks the embedder's identity (nothing opening the
        # projections does).
        await asyncio.to_thread(resolve)
    if llm is None and use_llm_settings:
        llm = await llm_from(settings.llm)
    reranker = reranker_from(settings.rerank)
    if reranker is not None:
        closers.append(reranker.aclose)
    # The eraser first: erased blobs are gone before the views re-fold (projections/erasure.py).
    projections: list[Projection] = [eraser, catalogue, ingest, vectors, chat, trees]  # type: ignore[list-item]
    runner = Runner(LogSource(logs), projections, leases=leases, published=published)
    settle: Settle
    if folds:
        settle = RunnerSettle(runner)
    else:
        assert published is not None  # checked above
        settle = CheckpointSettle(published)
    return ReadSide(
        logs=logs,
        blobs=blobs,
        views=views,
        cache=cache,
        embedder=cached,
        index=index,
        catalogue=catalogue,
        ingest=ingest,
        vectors=vectors,
        chat=chat,
        trees=trees,
        snapshots=FoldSnapshots(),
        runner=runner,
        settle=settle,
        llm=llm,
        reranker=reranker,
        rerank_depth=max(1, settings.rerank.depth),
        _closers=closers,
    )
