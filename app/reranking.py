"""Reranking retrieved passages by a rerank service (projections/providers/rerank.py): the
book's own (app/book_rerankers.py), else the server's `[rerank]`.

    rerank = await services.rerankers.for_book(book)          # Rerank, or None: no reranking
    found = await vectors.search(chapter, q, k=depth_for(rerank, 8))
    hits = await reranked(rerank, q, found, k=8)              # the service's best k, its order

Retrieval asks for the rerank depth's passages; the service reorders them and the best `k` are
kept, each scored by the service's relevance. Without a service, the first `k` are kept as they
were. A failing service fails the search or answer with the providers' error (HTTP 502/503),
never silently falling back: a book that set reranking gets it or hears why not.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NamedTuple

import msgspec

from app.readside import ReadSide
from projections.providers.rerank import Reranker
from projections.vectors import SearchHit

__all__ = ["SERVER", "Rerank", "RerankChoice", "depth_for", "reranked", "resolve", "server_rerank"]


class Rerank(NamedTuple):
    """A rerank service and how many passages it is given to reorder."""

    reranker: Reranker
    depth: int


SERVER: Literal["server"] = "server"
"""The `rerank` argument meaning: the server's `[rerank]` (when the caller has no book's)."""
RerankChoice = Rerank | None | Literal["server"]


def server_rerank(read: ReadSide) -> Rerank | None:
    """The server-wide rerank service (`[rerank]`), or None."""
    return None if read.reranker is None else Rerank(read.reranker, read.rerank_depth)


def resolve(read: ReadSide, rerank: RerankChoice) -> Rerank | None:
    """`rerank`, with SERVER made the server's service."""
    return server_rerank(read) if rerank == SERVER else rerank  # type: ignore[return-value]


def depth_for(rerank: Rerank | None, k: int) -> int:
    """How many passages to retrieve for `k` answers: more when a reranker will choose."""
    return max(k, rerank.depth) if rerank is not None else k


async def reranked(
    rerank: Rerank | None, query: str, hits: Sequence[SearchHit], *, k: int
) -> list[SearchHit]:
    """The best `k` of `hits` by the rerank service (as they were without one)."""
    if rerank is None or not hits:
        return list(hits[:k])
    order = await rerank.reranker.rerank(query, [h.text for h in hits], top_n=k)
    return [msgspec.structs.replace(hits[i], score=score) for i, score in order]
