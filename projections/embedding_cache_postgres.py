"""The embedding cache on PostgreSQL, beside the views there, for processes on several machines.

The same interface and the same bytes as the SQLite cache (`projections.embedding_cache`): vectors
keyed by (model, chunk hash), stored as little-endian float32. It lives in the views database
(table `embeddings`, store_postgres.MIGRATIONS step 3) and uses its pool: where the views are
shared, a chunk one worker embedded is never embedded again by another.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from projections.store_postgres import PostgresViews

__all__ = ["PostgresEmbeddingCache"]

_BATCH = 500


class PostgresEmbeddingCache:
    """(model, chunk hash) -> vector, in the PostgreSQL views database."""

    def __init__(self, views: PostgresViews) -> None:
        self._views = views

    async def close(self) -> None:
        """Nothing of its own to close: the views' pool is closed with them."""

    async def get_many(self, model: str, chunks: Sequence[str]) -> dict[str, list[float]]:
        """The cached vectors among `chunks`."""
        found: dict[str, list[float]] = {}
        for i in range(0, len(chunks), _BATCH):
            rows = await self._views.fetchall(
                "SELECT chunk, vector FROM embeddings WHERE model = ? AND chunk = ANY(?)",
                (model, list(chunks[i : i + _BATCH])),
            )
            for chunk, blob in rows:
                found[chunk] = np.frombuffer(blob, dtype="<f4").tolist()
        return found

    async def forget(self, chunks: Sequence[str]) -> None:
        """Drop every model's vectors of `chunks` (their text was erased), in one transaction."""
        if not chunks:
            return
        async with self._views.transaction() as db:
            for i in range(0, len(chunks), _BATCH):
                await db.execute(
                    "DELETE FROM embeddings WHERE chunk = ANY(?)", (list(chunks[i : i + _BATCH]),)
                )

    async def put_many(self, model: str, vectors: Mapping[str, Sequence[float]]) -> None:
        """Store vectors (an existing entry is kept: the same chunk embeds the same)."""
        rows = [
            (model, chunk, np.asarray(vector, dtype="<f4").tobytes())
            for chunk, vector in vectors.items()
        ]
        if not rows:
            return
        async with self._views.transaction() as db:
            await db.executemany(
                "INSERT INTO embeddings (model, chunk, vector) VALUES (?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                rows,
            )
