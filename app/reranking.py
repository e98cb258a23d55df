"""Reranking retrieved passages by the configured rerank service (projections/providers/rerank.py).

    hits = await reranked(read, question, hits, k=8)   # the service's best k, its order

Retrieval asks for `rerank_depth` passages; the service reorders them and the best `k` are kept,
each scored by the service's relevance. Without a service, the first `k` are kept as they were.
A failing service fails the search or answer with the providers' error (HTTP 502/503), never
silently falling back: a book that set reranking gets it or hears why not.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from app.readside import ReadSide
from projections.vectors import SearchHit

__all__ = ["depth_for", "reranked"]


def depth_for(read: ReadSide, k: int) -> int:
    """How many passages to retrieve for `k` answers: more when a reranker will choose."""
    return max(k, read.rerank_depth) if read.reranker is not None else k


async def reranked(
    read: ReadSide, query: str, hits: Sequence[SearchHit], *, k: int
) -> list[SearchHit]:
    """The best `k` of `hits` by the rerank service (as they were without one)."""
    if read.reranker is None or not hits:
        return list(hits[:k])
    order = await read.reranker.rerank(query, [h.text for h in hits], top_n=k)
    return [msgspec.structs.replace(hits[i], score=score) for i, score in order]
