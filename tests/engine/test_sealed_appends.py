"""A sealed append leaves no personal blob that no event names: not when a client's retried
write is answered with its first attempt's event, nor when an append is refused
(engine/log.py, engine/personal.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from engine.blobs.local import LocalBlobStore
from engine.errors import EventTooLarge, RevisionConflict
from engine.jetstream.idempotency import idempotent
from engine.log import Log
from engine.nats import NATS
from events import ChapterRenamed, new_id


@pytest.fixture
async def blobs(tmp_path: Path) -> AsyncIterator[LocalBlobStore]:
    store = LocalBlobStore(tmp_path / "blobs")
    yield store
    await store.aclose()


def stored_blobs(store: LocalBlobStore) -> set[str]:
    return {p.name for p in store.root.rglob("*") if p.is_file()}


async def named_blobs(log: Log) -> set[str]:
    return {s async for e in log.read() if (s := getattr(e.envelope.body, "sealed", None))}


async def test_a_retried_keyed_append_keeps_only_the_first_attempts_blob(
    shared_nc: NATS, blobs: LocalBlobStore
):
    log = Log(shared_nc, new_id(), blobs=blobs)
    await log.create()
    with idempotent("retried-sealed-1"):
        first = await log.append(ChapterRenamed(title="Secret plans"), actor="u1")
    with idempotent("retried-sealed-1"):  # the retry seals with a new nonce: another blob
        again = await log.append(ChapterRenamed(title="Secret plans"), actor="u1")
    assert again.payload == first.payload
    named = await named_blobs(log)
    assert len(named) == 1
    assert stored_blobs(blobs) == named
    await log.close()


async def test_a_refused_append_keeps_no_blob(shared_nc: NATS, blobs: LocalBlobStore):
    log = Log(shared_nc, new_id(), blobs=blobs, max_event_bytes=2_000)
    await log.create()
    await log.append(ChapterRenamed(title="kept"), actor="u1")
    with pytest.raises(RevisionConflict):
        await log.append(ChapterRenamed(title="decided on a stale rev"), actor="u1", expected_rev=0)
    with pytest.raises(EventTooLarge):
        # The title is sealed out of the event; a long actor is what stays in it.
        await log.append(ChapterRenamed(title="too big"), actor="u" * 4_000)
    named = await named_blobs(log)
    assert len(named) == 1
    assert stored_blobs(blobs) == named
    await log.close()
