"""Faults on a three-node JetStream cluster under concurrent appends, checked Jepsen-style
(tests/reliability/jepsen.py): every acknowledged write present exactly once at its rev, none out
of order, every chain verifying, through the cluster and on each node's own store.

Each test runs its storm for a few seconds per fault (about a minute in all on a loaded
2-core machine); the outcome each one observed is printed (`pytest -s`) and in docs/deploy.md.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from engine.log import Log
from engine.nats import chapter_stream, open_nats
from engine.server_cluster import LocalCluster
from events import new_id
from tests.reliability.jepsen import History, Stored, Verdict, check, read_through, run_writers
from tests.reliability.store_blocks import read_store

CHAPTERS = 3
WRITERS = 4


async def _chapters(cluster: LocalCluster, n: int = CHAPTERS) -> list[str]:
    nc = await cluster.connect()
    ids = [new_id() for _ in range(n)]
    for chapter in ids:
        log = Log(nc, chapter, replicas=3)
        await log.create()
        await log.close()
    await nc.close()
    return ids


def _connect(cluster: LocalCluster):
    async def connect(w: int):
        # Writers start on different nodes (the client fails over to the others).
        urls = cluster.urls[w % len(cluster.urls) :] + cluster.urls[: w % len(cluster.urls)]
        return await open_nats(",".join(urls), cluster.user, cluster.password, name=f"w{w}")

    return connect


async def _storm(
    cluster: LocalCluster, chapters: list[str], faults: Callable[[History], Awaitable[None]]
) -> History:
    """Writers run while `faults()` runs, and a moment after it (appends must resume)."""
    stop = asyncio.Event()
    history = History()
    writing = asyncio.create_task(
        run_writers(_connect(cluster), chapters, writers=WRITERS, stop=stop, replicas=3,
                    history=history)
    )  # fmt: skip
    try:
        await asyncio.sleep(1.5)
        await faults(history)
        resumed_from = history.count
        deadline = time.monotonic() + 30
        while history.count < resumed_from + 20 and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        assert history.count >= resumed_from + 20, "appends did not resume after the faults"
    finally:
        stop.set()
        await asyncio.wait_for(writing, 60)
    return history


async def _verdicts(
    cluster: LocalCluster, chapters: list[str], history: History
) -> tuple[Verdict, list[Verdict]]:
    """The checker over the cluster's reads, then over each node's store (cluster stopped)."""
    await cluster.start()  # every node up, whatever the faults left
    nc = await cluster.connect()
    through = check(history, await read_through(nc, chapters))
    await nc.close()
    await cluster.stop()
    nodes = [check(history, node_logs(node.data_dir, chapters)) for node in cluster.nodes]
    return through, nodes


def node_logs(node_dir: Path, chapters: list[str]) -> dict[str, Stored]:
    """The chapters' logs as one node's store holds them."""
    return {
        c: Stored(
            messages={
                rev: (m.payload, m.hash)
                for rev, m in read_store(node_dir, chapter_stream(c)).items()
            }
        )
        for c in chapters
    }


def _assert_clean(name: str, history: History, through: Verdict, nodes: list[Verdict]) -> None:
    print(f"\n{name}: {history.count} acknowledged, {len(history.indeterminate)} indeterminate "
          f"({dict(history.errors)}); cluster {through.summary()}")  # fmt: skip
    for i, verdict in enumerate(nodes):
        print(f"  node n{i + 1}: {verdict.summary()} heads {verdict.heads}")
    assert history.count > 100, "too few appends to mean anything"
    assert through.clean, through.summary()
    assert through.present == history.count
    for verdict in nodes:
        assert verdict.clean, verdict.summary()
        assert verdict.present == history.count
        assert verdict.heads == through.heads  # every node holds the same logs


async def test_kill_9_of_the_stream_leader_again_and_again_loses_nothing(cluster: LocalCluster):
    chapters = await _chapters(cluster)
    nc = await cluster.connect()

    async def faults(history: History) -> None:
        for _ in range(3):
            leader = await cluster.leader_of(nc, chapter_stream(chapters[0]))
            cluster.kill(leader)
            await asyncio.sleep(2.0)
            await cluster.start_node(leader)
            await asyncio.sleep(2.0)

    history = await _storm(cluster, chapters, faults)
    await nc.close()
    through, nodes = await _verdicts(cluster, chapters, history)
    _assert_clean("kill -9 the leader x3", history, through, nodes)


async def test_a_paused_node_sigstop_loses_nothing(cluster: LocalCluster):
    chapters = await _chapters(cluster)
    nc = await cluster.connect()

    async def faults(history: History) -> None:
        leader = await cluster.leader_of(nc, chapter_stream(chapters[0]))
        cluster.pause(leader)
        try:
            await asyncio.sleep(6.0)  # past the election timeout: the others elect a leader
        finally:
            cluster.resume(leader)
        await asyncio.sleep(2.0)

    history = await _storm(cluster, chapters, faults)
    await nc.close()
    through, nodes = await _verdicts(cluster, chapters, history)
    _assert_clean("SIGSTOP the leader 6 s", history, through, nodes)


async def test_kill_9_of_the_whole_cluster_loses_nothing_acknowledged(cluster: LocalCluster):
    chapters = await _chapters(cluster)

    async def faults(history: History) -> None:
        for i in range(len(cluster.nodes)):  # all at once: only fsync stands between us and loss
            cluster.kill(i)
        await asyncio.sleep(1.0)
        await cluster.start()

    history = await _storm(cluster, chapters, faults)
    through, nodes = await _verdicts(cluster, chapters, history)
    _assert_clean("kill -9 every node, restart", history, through, nodes)
