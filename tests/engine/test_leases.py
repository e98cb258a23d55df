"""Chapter leases in NATS KV (engine/jetstream/leases.py): revision-checked, expiring, shared
fairly; a dead worker's chapters taken over within seconds; never one chapter held twice."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from engine.jetstream.checkpoints import PublishedCheckpoints
from engine.jetstream.leases import ChapterLeases, LeaseKeeper
from events import new_id

TTL = 2.0


async def test_a_lease_is_exclusive_renewable_and_lost_when_it_expires(nc):
    a = await ChapterLeases.open(nc, "worker-a", ttl=TTL)
    b = await ChapterLeases.open(nc, "worker-b", ttl=TTL)
    chapter = new_id()
    lease = await a.acquire(chapter)
    assert lease is not None and await b.acquire(chapter) is None
    assert await a.holder(chapter) == "worker-a"
    renewed = await a.renew(lease)
    assert renewed is not None and renewed.revision > lease.revision
    assert await a.renew(lease) is None  # an old revision is no fencing token any more

    await asyncio.sleep(TTL + 1.5)  # a stalls past the ttl: the entry expires
    taken = await b.acquire(chapter)
    assert taken is not None and await b.holder(chapter) == "worker-b"
    assert await a.renew(renewed) is None  # a learns it lost the chapter

    await b.release(taken)
    assert await b.holder(chapter) is None
    assert await a.acquire(chapter) is not None


async def test_a_bad_worker_id_is_refused(nc):
    with pytest.raises(ValueError, match="invalid worker id"):
        await ChapterLeases.open(nc, "two words", ttl=TTL)


async def _rounds(keeper: LeaseKeeper) -> None:
    """A keeper's loop WITHOUT the release on stop: cancelling it is a crash."""
    while True:
        await keeper.round()
        await asyncio.sleep(keeper.every)


async def test_two_workers_share_200_chapters_and_one_takes_over_when_the_other_dies(nc):
    chapters = [new_id() for _ in range(200)]
    keepers = [
        LeaseKeeper(await ChapterLeases.open(nc, name, ttl=TTL), lambda: chapters)
        for name in ("worker-1", "worker-2")
    ]
    tasks = [asyncio.create_task(_rounds(k)) for k in keepers]
    overlaps = 0

    def overlap() -> int:
        return len(set(keepers[0].held) & set(keepers[1].held))

    try:
        deadline = time.monotonic() + 30
        while len(set(keepers[0].held) | set(keepers[1].held)) < len(chapters):
            overlaps += overlap()
            assert time.monotonic() < deadline, "the two workers never covered every chapter"
            await asyncio.sleep(0.05)
        assert {len(k.held) for k in keepers} == {100}  # a fair share each
        holders = {c: await keepers[0].leases.holder(c) for c in chapters}
        assert all(holders[c] == "worker-1" for c in keepers[0].held)
        assert all(holders[c] == "worker-2" for c in keepers[1].held)

        # worker-1 dies (no release): its chapters expire and worker-2 takes them over.
        tasks[0].cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await tasks[0]
        died = time.monotonic()
        orphans = set(keepers[0].held)
        while not orphans <= set(keepers[1].held):
            assert time.monotonic() - died < 10, "the survivor did not take over within 10 s"
            await asyncio.sleep(0.05)
        took_over = time.monotonic() - died
        assert len(keepers[1].held) == len(chapters)
        print(f"\ntook over {len(orphans)} chapters {took_over:.1f} s after the other died")
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    assert overlaps == 0  # never one chapter in both workers' hands


async def test_a_clean_stop_hands_the_chapters_over_at_once(nc):
    chapters = [new_id() for _ in range(20)]
    first = LeaseKeeper(await ChapterLeases.open(nc, "first", ttl=30.0), lambda: chapters)
    second = LeaseKeeper(await ChapterLeases.open(nc, "second", ttl=30.0), lambda: chapters)
    running = asyncio.create_task(first.run())
    while len(first.held) < 20:
        await asyncio.sleep(0.02)
    running.cancel()  # run() releases what it holds when stopped
    with contextlib.suppress(asyncio.CancelledError):
        await running
    await second.round()
    assert len(second.held) == 20  # long before the 30 s ttl


async def test_a_holder_that_woke_late_cannot_publish_over_the_next_holders_positions(nc):
    published = await PublishedCheckpoints.open(nc)
    a = await ChapterLeases.open(nc, "worker-a", ttl=TTL)
    b = await ChapterLeases.open(nc, "worker-b", ttl=TTL)
    chapter = new_id()
    first = await a.acquire(chapter)
    assert first is not None
    assert await published.publish(chapter, {"catalogue": 10}, fence=first.revision)
    # a stalls between a commit and its publish; the lease moves on to b, which folds further.
    await a.release(first)
    second = await b.acquire(chapter)
    assert second is not None and second.revision > first.revision
    assert await published.publish(chapter, {"catalogue": 20}, fence=second.revision)
    assert not await published.publish(chapter, {"catalogue": 12}, fence=first.revision)
    assert await published.positions(chapter) == {"catalogue": 20}
    # The holder itself may move its positions back (a projection rebuilt from zero).
    assert await published.publish(chapter, {"catalogue": 0}, fence=second.revision)
    assert await published.positions(chapter) == {"catalogue": 0}


async def test_an_entry_published_before_fences_reads_as_it_did(nc):
    published = await PublishedCheckpoints.open(nc)
    chapter = new_id()
    await published.kv.put(f"ch.{chapter}", b'{"catalogue": 7, "vectors": 5}')
    assert await published.positions(chapter) == {"catalogue": 7, "vectors": 5}
    assert await published.publish(chapter, {"catalogue": 8}, fence=3)
    assert await published.positions(chapter) == {"catalogue": 8}
    assert await published.positions(new_id()) == {}
