"""The worker survives a nats-server crash in the middle of ingest: every source ends extracted,
with one result each, and the read models equal a clean rebuild."""

import asyncio

from tests.projections.pipeline_support import (
    add_text,
    add_texts_at_once,
    digests,
    open_test_worker,
    rebuilt_digests,
    results,
    settle,
)

BEFORE = 60
"""Sources added before the crash."""
AFTER = 20
"""Sources added once the server is back."""


def note(i: int) -> str:
    return f"Field note {i}: the heron number {i} waded along the reed bank at dawn, twice."


async def test_the_worker_survives_a_nats_crash_mid_ingest(
    nats_server, logs, blobs, chapter, tmp_path, local_embedder
):
    log = logs.chapter(chapter)
    worker = await open_test_worker(tmp_path / "live", logs, blobs, local_embedder)
    await worker.runner.start()
    try:
        # A bulk of sources, and the server crashes once about a third have their result.
        notes = {f"note-{i:03}.txt": note(i) for i in range(BEFORE)}
        added = await add_texts_at_once(log, blobs, notes)
        async with asyncio.timeout(120):
            while (done := sum((await results(log)).values())) < BEFORE // 3:
                await asyncio.sleep(0.02)
        nats_server.kill()
        assert done < BEFORE, "the crash did not land mid-ingest"
        await asyncio.sleep(1.5)  # long enough for the runner's loops to fail and retry
        await nats_server.start()

        # More sources once it is back; everything settles.
        later = [
            await add_text(logs, blobs, chapter, f"later-{i}.txt", note(BEFORE + i))
            for i in range(AFTER)
        ]
        await settle(worker, chapter, timeout=180)

        # Nothing skipped, nothing applied twice: one result per source, all extracted.
        sources = {a.source for a in added} | set(later)
        final = await results(log)
        assert set(final) == sources
        assert set(final.values()) == {1}, {s: n for s, n in final.items() if n != 1}
        catalogue = await worker.catalogue.sources(chapter)
        assert {s.id for s in catalogue} == sources
        assert {s.status for s in catalogue} == {"extracted"}
        assert await worker.index.count(chapter) == len(sources)  # one chunk each
        hits = await worker.vectors.search(chapter, note(BEFORE + 3), k=1)
        assert hits[0].source == later[3]
        live = await digests(worker, chapter)
    finally:
        await worker.close()

    # A clean rebuild of the same log equals the read models that lived through the crash.
    rebuilt = tmp_path / "rebuilt"
    assert await rebuilt_digests(rebuilt, logs, blobs, local_embedder, chapter, 180) == live
    assert await results(log) == final
