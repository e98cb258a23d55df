"""Benchmark of the logs on a JetStream cluster (issue 12): appends at R3 against R1, and failover.

    uv run python bench/bench_cluster.py            # the figures (a few minutes)
    uv run python bench/bench_cluster.py --quick    # tiny sizes: checks that the script works

A three-node cluster runs on this machine (engine/server_cluster.py: loopback, `sync_interval:
always` on every node, as `ragstack cluster up`). R1 and R3 are streams on the SAME cluster, each
written through a connection to its leader's node, so the ratio isolates replication (an R3
append is acknowledged once two of three nodes fsynced it), measured in alternating rounds:
- sequential: one `Log.append` at a time (each one an fsync, and at R3 a replication round trip);
- batched: `Log.append_many` (atomic batches of 500, one commit each).
Failover: an R3 chapter takes appends one after the other; its stream leader is killed -9; the
figure is the time from the kill to the next acknowledged append (median of a few kills, the
node restarted between them).

Workers: `workers_N_eps` is projection throughput with N worker processes (role worker: each
folds only the chapters whose lease it holds, engine/jetstream/leases.py) over 1,000 chapters
at R1 (one nats-server), all read models (catalogue, ingest, vectors, chat, tree) in one shared
data directory and a Chroma server: events folded per second, from the moment all N workers,
already open, are told to start, until every chapter's published checkpoints reach its head.
The chapters hold chapter and chat events (no sources: embedding would measure the embedder).
Progress goes to stderr; the last line of stdout is one JSON object.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bench.cluster_worker import READY
from bench.common import (  # fmt: skip
    alternate,
    bench_parser,
    done,
    finished,
    full_and_quick,
    machine,
    median,
    ratio,
    say,
)
from engine.books import Books
from engine.jetstream.checkpoints import CHECKPOINT_BUCKET, PublishedCheckpoints
from engine.jetstream.leases import LEASE_BUCKET
from engine.log import Log, Logs
from engine.nats import NATS, chapter_stream, open_nats
from engine.server import EmbeddedServer
from engine.server_cluster import LocalCluster
from events import ChapterRenamed, MessagePosted, ThreadStarted, new_id

ROOT = Path(__file__).resolve().parents[1]
FOLDED = ("catalogue", "ingest", "vectors", "chat", "tree")


@dataclass(frozen=True)
class Sizes:
    seq_appends: int
    """Sequential appends per round and contender."""
    batch_events: int
    """Events per batched round and contender."""
    rounds: int
    kills: int
    """Leader kills measured for failover."""
    chapters: int
    """Chapters the workers share."""
    chapter_events: int
    """Events per chapter (besides its registration)."""


FULL, QUICK = full_and_quick(
    Sizes, seq_appends=(400, 20), batch_events=(10_000, 500), rounds=(3, 1), kills=(3, 1),
    chapters=(1000, 40), chapter_events=(20, 5),
)  # fmt: skip


async def _new_log(nc: NATS, replicas: int) -> Log:
    log = Log(nc, new_id(), replicas=replicas, unavailable_after=60)
    await log.create()
    return log


async def _on_its_leader(cluster: LocalCluster, admin: NATS, replicas: int) -> Log:
    """A new log at `replicas`, written through a connection to its stream leader's node: the
    client then talks to the leader directly at R1 and R3 alike, and the ratio measures
    replication, not whether the stream happened to land on the node the client dialled (an
    extra route hop through another busy process halved R1's batch rate in a trial)."""
    log = await _new_log(admin, replicas)
    leader = await cluster.leader_of(admin, chapter_stream(log.id))
    await log.close()
    nc = await open_nats(cluster.urls[leader], cluster.user, cluster.password)
    say(f"  R{replicas} stream led by n{leader + 1}, written from its node")
    return Log(nc, log.id, replicas=replicas, unavailable_after=60)


async def appends(cluster: LocalCluster, sizes: Sizes) -> dict[str, float]:
    admin = await cluster.connect()
    logs = {r: await _on_its_leader(cluster, admin, r) for r in (1, 3)}
    counter = 0

    def sequential(replicas: int):
        async def run() -> int:
            nonlocal counter
            for _ in range(sizes.seq_appends):
                counter += 1
                await logs[replicas].append(ChapterRenamed(title=f"t{counter}"), actor="bench")
            return sizes.seq_appends

        return run

    def batched(replicas: int):
        async def run() -> int:
            bodies = [ChapterRenamed(title=f"b{i}") for i in range(sizes.batch_events)]
            await logs[replicas].append_many(bodies, actor="bench")
            return sizes.batch_events

        return run

    say(f"sequential appends, {sizes.seq_appends} per round")
    seq = await alternate(sizes.rounds, {"r1": sequential(1), "r3": sequential(3)})
    say(f"batched appends, {sizes.batch_events:,} per round")
    batch = await alternate(sizes.rounds, {"r1": batched(1), "r3": batched(3)})
    for log in logs.values():
        await log.close()
        await log.nc.close()
    await admin.close()
    figures = {
        "r1_seq_eps": round(median(seq["r1"])),
        "r3_seq_eps": round(median(seq["r3"])),
        "r1_batch_eps": round(median(batch["r1"])),
        "r3_batch_eps": round(median(batch["r3"])),
    }
    figures["r3_vs_r1_seq_ratio"] = ratio(figures["r3_seq_eps"], figures["r1_seq_eps"])
    figures["r3_vs_r1_batch_ratio"] = ratio(figures["r3_batch_eps"], figures["r1_batch_eps"])
    return figures


async def failover(cluster: LocalCluster, sizes: Sizes) -> list[float]:
    """Seconds from a leader's kill -9 to the next acknowledged append, per kill."""
    nc = await cluster.connect()
    log = await _new_log(nc, 3)
    # A short publish timeout: the writer notices the dead leader quickly and tries again.
    log.publish_timeout = 1.0
    appended: list[tuple[float, float]] = []  # (started, acknowledged) of each append
    stop = asyncio.Event()

    async def writer() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            started = time.monotonic()
            await log.append(ChapterRenamed(title=f"f{n}"), actor="bench")
            appended.append((started, time.monotonic()))

    def after(moment: float) -> list[float]:
        # Only an append that began after the kill counts: one in flight at the kill may
        # have been committed by the old leader already, and says nothing of the new one.
        return [acked for started, acked in appended if started > moment]

    writing = asyncio.create_task(writer())
    results = []
    try:
        for k in range(sizes.kills):
            await asyncio.sleep(1.0)
            leader = await cluster.leader_of(nc, chapter_stream(log.id))
            killed_at = time.monotonic()
            cluster.kill(leader)
            while not after(killed_at):
                if writing.done():
                    writing.result()
                await asyncio.sleep(0.005)
            seconds = min(after(killed_at)) - killed_at
            results.append(round(seconds, 3))
            say(f"  kill {k + 1}/{sizes.kills} of n{leader + 1}: next ack after {seconds:.2f} s")
            await cluster.start_node(leader)
    finally:
        stop.set()
        await asyncio.wait_for(writing, 60)
        await log.close()
        await nc.close()
    return results


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _chroma(path: Path):
    """A Chroma server (`chroma run`, from the chromadb wheel): the workers' shared index."""
    port = _free_port()
    with (path.parent / "chroma.log").open("wb") as out:
        proc = subprocess.Popen(
            [str(Path(sys.executable).with_name("chroma")), "run", "--path", str(path),
             "--host", "127.0.0.1", "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1) as answer,
            ):
                if answer.status == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the Chroma server did not start")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


async def _fill(logs: Logs, sizes: Sizes) -> dict[str, int]:
    """The chapters of one book, each with its events; their heads."""
    books = Books(logs)
    await books.start()
    try:
        book = await books.create_book("u-bench", "bench@example.org", "Bench")
        chapters = [
            (await books.create_chapter("u-bench", book.id, f"c{i}")).id
            for i in range(sizes.chapters)
        ]
    finally:
        await books.stop()
    heads = {}
    for i, chapter in enumerate(chapters):
        bodies = [ChapterRenamed(title=f"c{i}"), ThreadStarted(thread="t", title="t")]
        bodies += [
            MessagePosted(thread="t", message=f"m{k}", role="user", text=f"message {k} of {i}")
            for k in range(sizes.chapter_events - 2)
        ]
        heads[chapter] = (await logs.chapter(chapter).append_many(bodies, actor="u-bench"))[-1].rev
    return heads


async def _fold_with(
    n: int, server: EmbeddedServer, nc: NATS, chroma: str, tmp: Path, heads: dict[str, int]
) -> float:
    """Seconds N fresh workers take to fold every chapter to its head."""
    js = nc.jetstream()
    for bucket in (LEASE_BUCKET, CHECKPOINT_BUCKET):  # the last run's leases and positions
        with contextlib.suppress(Exception):
            await js.delete_key_value(bucket)
    data = tmp / f"workers-{n}"
    data.mkdir()
    procs: list[asyncio.subprocess.Process] = []
    outs: list[Path] = []
    for w in range(n):
        out = data / f"w{w}.out"
        args = [
            "-m", "bench.cluster_worker", f"--name=w{w}", f"--url={server.url}",
            f"--user={server.user}", f"--password={server.password}", f"--data={data}",
            f"--chroma={chroma}",
        ]  # fmt: skip
        with out.open("wb") as sink:
            procs.append(
                await asyncio.create_subprocess_exec(
                    sys.executable,
                    *args,
                    cwd=ROOT,
                    stdin=asyncio.subprocess.PIPE,
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                )
            )
        outs.append(out)
    try:
        while not all(READY in o.read_text(errors="replace") for o in outs):
            if any(p.returncode is not None for p in procs):
                raise RuntimeError("a worker died: " + outs[0].read_text(errors="replace")[-2000:])
            await asyncio.sleep(0.1)
        published = await PublishedCheckpoints.open(nc)
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(b"go\n")
            await proc.stdin.drain()
        started = time.monotonic()
        todo = dict(heads)
        while todo:
            for chapter, head in list(todo.items()):
                positions = await published.positions(chapter)
                if all(positions.get(name, 0) >= head for name in FOLDED):
                    del todo[chapter]
            if time.monotonic() - started > 600:
                raise RuntimeError(f"{len(todo)} chapters still unfolded after 600 s")
            await asyncio.sleep(0.05)
        return time.monotonic() - started
    finally:
        for proc in procs:
            proc.kill()
            await proc.wait()


async def workers(tmp: Path, sizes: Sizes) -> dict[str, object]:
    """`workers_N_eps` for N = 1, 2, 4 (see the module docstring)."""
    server = EmbeddedServer(tmp / "nats")
    await server.start()
    try:
        nc = await open_nats(server.url, server.user, server.password)
        async with Logs(nc) as logs:
            say(f"workers: {sizes.chapters:,} chapters of {sizes.chapter_events} events")
            heads = await _fill(logs, sizes)
        events = sum(heads.values())
        figures: dict[str, object] = {"workers_events": events}
        with _chroma(tmp / "chroma") as chroma:
            for n in (1, 2, 4):
                seconds = await _fold_with(n, server, nc, chroma, tmp, heads)
                figures[f"workers_{n}_eps"] = round(events / seconds)
                figures[f"workers_{n}_s"] = round(seconds, 2)
                say(f"  {n} worker(s): {events:,} events in {seconds:.1f} s")
        await nc.close()
    finally:
        await server.stop()
    return figures


async def main(sizes: Sizes) -> None:
    started = machine()
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        cluster = LocalCluster(Path(tmp) / "cluster", 3)
        say("starting a three-node cluster")
        await cluster.start()
        try:
            figures: dict[str, object] = {"machine": started}
            figures.update(await appends(cluster, sizes))
            say(f"failover: {sizes.kills} leader kills")
            kills = await failover(cluster, sizes)
            figures["failover_s"] = median(kills)
            figures["failover_each_s"] = kills
        finally:
            await cluster.stop()
        figures.update(await workers(Path(tmp), sizes))
    targets = {"failover_under_10_s": float(figures["failover_s"]) < 10.0}  # type: ignore[arg-type]
    done(finished(figures, sizes, targets))


if __name__ == "__main__":
    args = bench_parser(__doc__).parse_args(sys.argv[1:])
    asyncio.run(main(QUICK if args.quick else FULL))
