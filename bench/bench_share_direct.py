"""Direct sharing's figure: from the owner's append call to the event applied in a guest's
replica, fsync included.

The owner appends to a chapter on an embedded nats-server (`sync_interval: always`); a guest reads
it with the credentials a direct share issues (engine/guests.py: an account of its own that sees
only the chapter's Direct Get and live republish subjects) through the guest reader
(engine/jetstream/guest.py, every event's chain checked), and applies each event to a replica
(client/replica.py: SQLite in WAL mode, each apply committed). The clock runs from just before
the owner's `append` to the replica's commit of that event.

Baseline, in the same process and on the same server: the bare transport — a core NATS
publish to a subject and its delivery to a subscriber on the same connection pair, with no
JetStream, no chain check and no disk. The ratio says what durability and checking cost on top.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path
from typing import Any

from client.replica import Replica
from engine.books import Books
from engine.guests import GuestUsers
from engine.jetstream.guest import follow_direct
from engine.log import Logs
from engine.nats import NATS, open_nats
from engine.server import EmbeddedServer
from events import SourceAdded, SourceRetagged, new_id

__all__ = ["direct_latency"]


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _transport_baseline(server: EmbeddedServer, rounds: int) -> list[float]:
    pub = await open_nats(server.url, server.user, server.password)
    sub_nc = await open_nats(server.url, server.user, server.password)
    got: asyncio.Queue[float] = asyncio.Queue()

    async def arrived(_msg: object) -> None:  # nats-py takes coroutine callbacks only
        got.put_nowait(0.0)

    try:
        await sub_nc.subscribe("bench.direct.baseline", cb=arrived)
        await sub_nc.flush()
        samples = []
        for _ in range(rounds):
            start = time.perf_counter()
            await pub.publish("bench.direct.baseline", b"x" * 200)
            await got.get()
            samples.append((time.perf_counter() - start) * 1000)
        return samples
    finally:
        await pub.close()
        await sub_nc.close()


async def direct_latency(
    server: EmbeddedServer, nc: NATS, tmp: Path, *, events: int
) -> dict[str, Any]:
    """direct_p50_ms / direct_p99_ms over `events` appends, and the bare-transport baseline."""
    logs = Logs(nc)
    books = Books(logs)
    await books.start()
    try:
        book = await books.create_book("u-owner", "owner@example.org", "Bench")
        chapter = (await books.create_chapter("u-owner", book.id, "Shared")).id
        log = logs.chapter(chapter)
        await log.append(
            SourceAdded(source="s1", name="a.txt", media_type="text/plain", blob="0" * 64, size=1),
            actor="u-owner",
        )
        grant = await GuestUsers(server, nc).grant(new_id(), chapter)
        replica = await Replica.open(tmp / "replica")
        await replica.bind(
            share="bench", chapter=chapter, mode="direct", title="Shared", server="bench",
            scope=["sources"],
        )  # fmt: skip
        applied: dict[int, float] = {}
        waiting: dict[int, asyncio.Event] = {}

        async def guest() -> None:
            async for event in follow_direct(grant, chapter):
                await replica.apply_events([event], {})
                applied[event.rev] = time.perf_counter()
                if event.rev in waiting:
                    waiting[event.rev].set()

        reader = asyncio.create_task(guest())
        try:
            samples = []
            for i in range(events):
                start = time.perf_counter()
                recorded = await log.append(
                    SourceRetagged(source="s1", tags=[f"t{i}"]), actor="u-owner"
                )
                if recorded.rev not in applied:
                    waiting[recorded.rev] = asyncio.Event()
                    await asyncio.wait_for(waiting[recorded.rev].wait(), 10)
                samples.append((applied[recorded.rev] - start) * 1000)
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            await replica.close()
    finally:
        await books.stop()
        await logs.close()
    baseline = await _transport_baseline(server, events)
    p50, p99 = statistics.median(samples), _percentile(samples, 0.99)
    return {
        "direct_events": events,
        "direct_p50_ms": round(p50, 2),
        "direct_p99_ms": round(p99, 2),
        "direct_max_ms": round(max(samples), 2),
        "direct_baseline_transport_p50_ms": round(statistics.median(baseline), 3),
        "direct_vs_transport_p50": round(p50 / max(statistics.median(baseline), 1e-6), 1),
    }
