"""The embedding cache: vectors keyed by (model, chunk hash), so nothing is embedded twice.

It lives in its own SQLite file because it outlives read models: a rebuild, a re-ingest or a
copy of a chapter finds its vectors here. Vectors are stored as little-endian float32 bytes.
Where the views are in PostgreSQL, so is the cache (`open_embedding_cache`,
`projections.embedding_cache_postgres`): processes on several machines share one.
"""

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import aiosqlite
import numpy as np

from projections.batching import Coalescer
from projections.providers.errors import ProviderBadRequest
from projections.store import Views

if TYPE_CHECKING:  # psycopg is imported only where PostgreSQL is configured
    from projections.embedding_cache_postgres import PostgresEmbeddingCache
    from projections.store_postgres import PostgresViews

_SCHEMA = """
CREATE TABLE IF NOT EXISTS embeddings (
    model TEXT NOT NULL, chunk TEXT NOT NULL, vector BLOB NOT NULL,
    PRIMARY KEY (model, chunk)
) WITHOUT ROWID;
"""
_LOOKUP_BATCH = 500


class Embedder(Protocol):
    """What the cache needs of an embedder (see projections.providers)."""

    model: str

    async def embed(self, texts: list[str]) -> list[list[float]]:
        """One vector per text, in order."""
        ...


class EmbeddingCache:
    """(model, chunk hash) -> vector, persistent."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path) -> "EmbeddingCache":
        """Open (creating) the cache file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(path, isolation_level=None)
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA synchronous=NORMAL")
        await db.execute("PRAGMA busy_timeout=10000")
        await db.execute("PRAGMA secure_delete=ON")  # forgotten vectors leave no trace in the file
        await db.executescript(_SCHEMA)
        return cls(db)

    async def close(self) -> None:
        """Close the file."""
        await self._db.close()

    async def get_many(self, model: str, chunks: Sequence[str]) -> dict[str, list[float]]:
        """The cached vectors among `chunks`."""
        found: dict[str, list[float]] = {}
        for i in range(0, len(chunks), _LOOKUP_BATCH):
            part = chunks[i : i + _LOOKUP_BATCH]
            marks = ",".join("?" * len(part))
            async with self._db.execute(
                f"SELECT chunk, vector FROM embeddings WHERE model = ? AND chunk IN ({marks})",
                (model, *part),
            ) as cursor:
                async for chunk, blob in cursor:
                    found[chunk] = np.frombuffer(blob, dtype="<f4").tolist()
        return found

    async def forget(self, chunks: Sequence[str]) -> None:
        """Drop every model's vectors of `chunks` (their text was erased)."""
        if not chunks:
            return
        async with self._lock:
            await self._db.execute("BEGIN")
            try:
                for start in range(0, len(chunks), 500):
                    part = list(chunks[start : start + 500])
                    marks = ",".join("?" * len(part))
                    await self._db.execute(f"DELETE FROM embeddings WHERE chunk IN ({marks})", part)
                await self._db.execute("COMMIT")
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise

    async def put_many(self, model: str, vectors: Mapping[str, Sequence[float]]) -> None:
        """Store vectors (an existing entry is kept: the same chunk embeds the same)."""
        rows = [
            (model, chunk, np.asarray(vector, dtype="<f4").tobytes())
            for chunk, vector in vectors.items()
        ]
        async with self._lock:
            await self._db.execute("BEGIN")
            try:
                await self._db.executemany(
                    "INSERT OR IGNORE INTO embeddings VALUES (?, ?, ?)", rows
                )
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise
            await self._db.execute("COMMIT")


async def open_embedding_cache(
    views: "Views | PostgresViews", path: Path
) -> "EmbeddingCache | PostgresEmbeddingCache":
    """The cache beside `views`: in the PostgreSQL views database when they are there, else the
    SQLite file at `path`."""
    if views.dialect == "postgresql":
        from projections.embedding_cache_postgres import PostgresEmbeddingCache

        assert not isinstance(views, Views)
        return PostgresEmbeddingCache(views)
    return await EmbeddingCache.open(path)


class CachedEmbedder:
    """An embedder behind the cache, counting what it really embedded."""

    def __init__(
        self,
        embedder: Embedder,
        cache: "EmbeddingCache | PostgresEmbeddingCache",
        *,
        batch_size: int = 64,
    ) -> None:
        """`batch_size`: texts per call of the embedder, each call's vectors cached before the
        next: what a crash can cost, embedded but not yet cached (a larger call keeps a local
        embedder's side-by-side runs busy a little longer, a few per cent, but a kill would
        lose that much more work)."""
        self.embedder = embedder
        self.cache = cache
        self.batch_size = batch_size
        self.embedded = 0
        """Chunks sent to the embedder since start."""
        self.hits = 0
        """Chunks answered from the cache since start."""
        self.queries: Coalescer[None, str, list[float]] = Coalescer(
            self._embed_queries, isolate=lambda exc: isinstance(exc, ProviderBadRequest)
        )
        """Concurrent searches' queries, embedded in batches."""

    @property
    def model(self) -> str:
        """The embedder's model id (the cache key)."""
        return self.embedder.model

    async def embed_chunks(self, texts: Mapping[str, str]) -> dict[str, list[float]]:
        """Vectors for chunk hash -> text, embedding only what the cache lacks."""
        hashes = list(texts)
        vectors = await self.cache.get_many(self.model, hashes)
        self.hits += len(vectors)
        missing = [h for h in hashes if h not in vectors]
        for i in range(0, len(missing), self.batch_size):
            part = missing[i : i + self.batch_size]
            fresh = await self.embedder.embed([texts[h] for h in part])
            new = dict(zip(part, fresh, strict=True))
            await self.cache.put_many(self.model, new)
            vectors.update(new)
            self.embedded += len(part)
        return vectors

    async def embed_query(self, text: str) -> list[float]:
        """A query's vector (queries are not cached; concurrent ones are embedded together)."""
        return await self.queries.submit(None, text)

    async def _embed_queries(self, _: None, texts: list[str]) -> list[list[float]]:
        return await self.embedder.embed(texts)
