"""The single embedded nats-server killed -9 in a loop under concurrent appends, checked like
the cluster (tests/reliability/jepsen.py): `sync_interval: always` keeps every acknowledged
append; nothing is duplicated or out of order; every chain verifies, read through the server
and straight from its store."""

from __future__ import annotations

import asyncio

from engine.log import Log
from engine.nats import NATS, chapter_stream, open_nats
from engine.server import EmbeddedServer
from events import new_id
from tests.reliability.jepsen import History, Stored, check, read_through, run_writers
from tests.reliability.store_blocks import read_store

KILLS = 4


async def test_kill_9_in_a_loop_loses_and_duplicates_nothing(nats_server: EmbeddedServer, nc):
    chapters = [new_id() for _ in range(3)]
    for chapter in chapters:
        log = Log(nc, chapter)
        await log.create()
        await log.close()

    async def connect(w: int) -> NATS:
        return await open_nats(nats_server.url, nats_server.user, nats_server.password)

    stop, history = asyncio.Event(), History()
    writing = asyncio.create_task(
        run_writers(connect, chapters, writers=4, stop=stop, history=history)
    )
    try:
        for _ in range(KILLS):
            await asyncio.sleep(1.5)
            before = history.count
            nats_server.kill()
            await asyncio.sleep(0.3)
            await nats_server.start()
            assert before > 0
        resumed = history.count
        while history.count < resumed + 50:  # appends resume after the last crash
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await asyncio.wait_for(writing, 60)

    through = check(history, await read_through(nc, chapters))
    nats_server.stop_sync()
    stored = check(
        history,
        {
            c: Stored(
                messages={
                    rev: (m.payload, m.hash)
                    for rev, m in read_store(nats_server.data_dir, chapter_stream(c)).items()
                }
            )
            for c in chapters
        },
    )
    print(
        f"\nkill -9 x{KILLS}: {history.count} acknowledged, {len(history.indeterminate)} "
        f"indeterminate; served {through.summary()}; store {stored.summary()}"
    )
    assert history.count > 200
    for verdict in (through, stored):
        assert verdict.clean, verdict.summary()
        assert verdict.present == history.count
    assert stored.heads == through.heads
