"""Fusing ranked lists: reciprocal rank fusion (Cormack, Clarke and Büttcher, SIGIR 2009).

Each list contributes `weight / (k + rank)` to every item it ranks (rank from 1). Ranks, not
scores: a cosine similarity and a BM25 score live on scales that share nothing, and RRF needs no
calibration between them, only the constant `k` (60 in the paper) that damps the head of each
list. Weights let one side count more; the quality bench (bench/bench_quality.py) is where a
change to either is justified.
"""

from collections.abc import Hashable, Sequence
from typing import TypeVar

__all__ = ["RRF_K", "rrf"]

K = TypeVar("K", bound=Hashable)

RRF_K = 60


def rrf(
    rankings: Sequence[Sequence[K]], *, weights: Sequence[float] | None = None, k: int = RRF_K
) -> list[tuple[K, float]]:
    """Items of all `rankings` by fused score, best first (ties: the order first seen).

    Each ranking lists item keys best first; a key repeated inside one ranking counts once, at
    its best rank.
    """
    if weights is None:
        weights = [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError(f"{len(weights)} weights for {len(rankings)} rankings")
    if k < 1:
        raise ValueError(f"the RRF constant must be at least 1, not {k}")
    scores: dict[K, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        seen: set[K] = set()
        for rank, key in enumerate(ranking, start=1):
            if key in seen:
                continue
            seen.add(key)
            scores[key] = scores.get(key, 0.0) + weight / (k + rank)
    order = {key: i for i, key in enumerate(scores)}
    return sorted(scores.items(), key=lambda item: (-item[1], order[item[0]]))
