"""Fusing ranked lists of scored hits.

- `rrf`, reciprocal rank fusion (Cormack, Clarke and Büttcher, SIGIR 2009): each list adds
  `weight / (k + rank)` to every item it ranks. Ranks only, so it needs no calibration between a
  cosine and a BM25 score; but it cannot see that one lexical hit stands far above the rest
  (the one chunk holding an error code), which is what exact-term queries turn on.
- `convex`, a weighted sum of min-max normalised scores (Bruch, Gai and Ingber, "An Analysis of
  Fusion Functions for Hybrid Retrieval", TOIS 2023, found it beats RRF once its one weight is
  set): an item missing from a list scores 0 there, the list's worst item also 0, its best 1.

Which one search uses, and the weight, is decided by the quality bench (bench/bench_quality.py,
docs/quality.md): a change to either needs its figures.
"""

from collections.abc import Hashable, Sequence
from typing import TypeVar

__all__ = ["RRF_K", "convex", "rrf"]

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


def convex(
    scored: Sequence[Sequence[tuple[K, float]]], *, weights: Sequence[float]
) -> list[tuple[K, float]]:
    """Items of all `scored` lists (key, score; higher is better) by the weighted sum of their
    min-max normalised scores, best first (ties: the order first seen). A list whose scores are
    all equal gives each of its items 1 (they are all its best)."""
    if len(weights) != len(scored):
        raise ValueError(f"{len(weights)} weights for {len(scored)} lists")
    fused: dict[K, float] = {}
    for items, weight in zip(scored, weights, strict=True):
        if not items:
            continue
        values = [score for _, score in items]
        low, high = min(values), max(values)
        span = high - low
        seen: set[K] = set()
        for key, score in items:
            if key in seen:
                continue
            seen.add(key)
            norm = (score - low) / span if span > 0 else 1.0
            fused[key] = fused.get(key, 0.0) + weight * norm
    order = {key: i for i, key in enumerate(fused)}
    return sorted(fused.items(), key=lambda item: (-item[1], order[item[0]]))
