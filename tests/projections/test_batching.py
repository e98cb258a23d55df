"""Concurrent calls share batched calls, and each caller gets its own answer."""

import asyncio

import numpy as np
import pytest

from projections.batching import Coalescer
from projections.providers.errors import ProviderBadRequest

QUERIES = [
    f"where did the {w} go in spring"
    for w in ["fox", "owl", "hare", "wren", "deer", "mole", "vole", "newt"]
]


class Recording:
    """The real local embedder, with a record of the batches it was given."""

    def __init__(self, embedder) -> None:
        self.embedder = embedder
        self.batches: list[list[str]] = []

    async def embed(self, key: object, texts: list[str]) -> list[list[float]]:
        self.batches.append(list(texts))
        return await self.embedder.embed(texts)


async def test_a_lone_query_is_embedded_at_once_alone(local_embedder):
    recording = Recording(local_embedder)
    batcher = Coalescer(recording.embed)
    vector = await batcher.submit(None, QUERIES[0])
    assert recording.batches == [[QUERIES[0]]]
    np.testing.assert_allclose(vector, local_embedder.embed_sync([QUERIES[0]])[0], atol=1e-5)


async def test_concurrent_queries_share_calls_and_each_gets_its_own_vector(local_embedder):
    recording = Recording(local_embedder)
    batcher = Coalescer(recording.embed, max_batch=5)
    texts = QUERIES * 3
    vectors = await asyncio.gather(*(batcher.submit(None, t) for t in texts))
    # All arrived before the first call: five to a call, in order.
    assert [len(batch) for batch in recording.batches] == [5, 5, 5, 5, 4]
    assert [t for batch in recording.batches for t in batch] == texts
    alone = local_embedder.embed_sync(texts)
    np.testing.assert_allclose(np.asarray(vectors), alone, atol=1e-5)


async def test_a_bad_query_fails_only_its_own_caller(local_embedder):
    batcher = Coalescer(
        Recording(local_embedder).embed, isolate=lambda e: isinstance(e, ProviderBadRequest)
    )
    texts = [QUERIES[0], QUERIES[1], "   ", QUERIES[2]]
    results = await asyncio.gather(
        *(batcher.submit(None, t) for t in texts), return_exceptions=True
    )
    assert isinstance(results[2], ProviderBadRequest)
    for i in (0, 1, 3):
        assert isinstance(results[i], list) and len(results[i]) == local_embedder.dim


async def test_a_failure_that_is_no_one_item_s_fault_reaches_every_caller_at_once():
    calls: list[list[int]] = []

    async def down(key: object, items: list[int]) -> list[int]:
        calls.append(list(items))
        raise ConnectionError("the index is down")

    coalescer: Coalescer[None, int, int] = Coalescer(down, isolate=lambda e: False)
    results = await asyncio.gather(
        *(coalescer.submit(None, i) for i in range(6)), return_exceptions=True
    )
    assert all(isinstance(r, ConnectionError) for r in results)
    assert calls == [[0, 1, 2, 3, 4, 5]]  # one call, not one more per item


async def test_a_cancelled_caller_leaves_the_others_answered(local_embedder):
    batcher = Coalescer(Recording(local_embedder).embed)
    first = asyncio.create_task(batcher.submit(None, QUERIES[0]))
    await asyncio.sleep(0)  # the first call is under way; the next ones wait behind it
    doomed = asyncio.create_task(batcher.submit(None, QUERIES[1]))
    kept = asyncio.create_task(batcher.submit(None, QUERIES[2]))
    await asyncio.sleep(0)
    doomed.cancel()
    assert len(await first) == len(await kept) == local_embedder.dim
    with pytest.raises(asyncio.CancelledError):
        await doomed


async def test_an_embedder_that_loses_count_is_an_error_not_a_hang():
    async def short(key: object, texts: list[str]) -> list[list[float]]:
        return [[1.0]] * (len(texts) - 1)

    batcher = Coalescer(short)
    with pytest.raises(RuntimeError, match="a batch of 1 returned 0 results"):
        await asyncio.wait_for(batcher.submit(None, "x"), timeout=5)


def test_max_batch_must_be_positive(local_embedder):
    with pytest.raises(ValueError, match="at least 1"):
        Coalescer(Recording(local_embedder).embed, max_batch=0)


async def test_calls_of_different_keys_never_share_a_batch():
    seen: list[tuple[str, list[int]]] = []

    async def run(key: str, items: list[int]) -> list[str]:
        seen.append((key, list(items)))
        await asyncio.sleep(0.01)
        return [f"{key}{i}" for i in items]

    coalescer: Coalescer[str, int, str] = Coalescer(run)
    calls = [("a", 1), ("b", 2), ("a", 3), ("b", 4), ("a", 5)]
    results = await asyncio.gather(*(coalescer.submit(k, i) for k, i in calls))
    assert results == ["a1", "b2", "a3", "b4", "a5"]
    assert sorted(seen) == [("a", [1, 3, 5]), ("b", [2, 4])]
    # Idle keys leave nothing behind.
    assert not coalescer._waiting and not coalescer._drainers
