"""A lease-holding worker in a child process, for tests that run several and SIGKILL some:
`python -m tests.reliability.worker_child --name w1 …`.

It opens the real read side (catalogue, ingest, vectors into a Chroma server, chat, trees) over a
data directory it shares with the other workers (or, with `--views postgresql://…`, over read
models in PostgreSQL and a data directory of its own; `--blobs` may then be an s3:// URL), folding only the chapters whose lease it holds
(role worker, engine/jetstream/leases.py), and publishing its checkpoints. One more projection,
`Trace`, records in the same SQLite file, in the transaction that moves its checkpoint, every
rev it applied with the worker and the batch's start and end times: the test reads it to check
that every rev was applied once and that two workers never folded one chapter at once.
"""

import argparse
import asyncio
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from app.readside import open_read_side
from app.settings import Settings, load_settings
from engine.blobs import open_blob_store
from engine.jetstream.checkpoints import PublishedCheckpoints
from engine.jetstream.leases import ChapterLeases
from engine.log import Logs
from engine.nats import open_nats
from events import Envelope
from projections.providers.local_embedder import LocalEmbedder
from projections.runner import LogSource, Runner
from projections.store import Checkpoints, Views

READY = "worker-child ready"
"""Printed (and flushed) on stdout once the runner is started."""

TRACE_SCHEMA = """
CREATE TABLE IF NOT EXISTS trace (
    chapter TEXT NOT NULL, rev INTEGER NOT NULL, worker TEXT NOT NULL,
    started REAL NOT NULL, ended REAL NOT NULL
);
"""


class Trace:
    """A projection that records which worker applied each rev, and when (see above)."""

    name = "trace"
    version = 1

    def __init__(self, views: Views, worker: str) -> None:
        self.views = views
        self.worker = worker
        self._checkpoints = Checkpoints(views, self.name)

    async def open(self) -> None:
        await self.views.script(TRACE_SCHEMA)

    async def load_checkpoint(self, chapter: str) -> tuple[int, int] | None:
        return await self._checkpoints.load(chapter)

    async def reset(self, chapter: str) -> None:
        raise AssertionError("the trace is never rebuilt")

    async def apply(self, chapter: str, events: Sequence[Envelope]) -> None:
        started = time.time()
        async with self.views.transaction() as db:
            ended = time.time()
            await db.executemany(
                "INSERT INTO trace VALUES (?, ?, ?, ?, ?)",
                [(chapter, e.rev, self.worker, started, ended) for e in events],
            )
            await self._checkpoints.store(
                db, chapter, events[-1].rev, self.version, after=events[0].rev - 1
            )

    async def idle(self, chapter: str) -> None:
        return None


def worker_settings(
    data: Path,
    url: str,
    user: str,
    password: str,
    chroma: str,
    *,
    views: str | None = None,
    blobs: str | None = None,
) -> Settings:
    """A worker's settings: read models under `data` (or in PostgreSQL at `views`), vectors in
    the Chroma server."""
    return load_settings(
        environ={},
        data_dir=str(data),
        llm={"kind": "extractive"},
        nats={"url": url, "user": user, "password": password},
        vectors={"url": chroma},
        views=views,
        blobs=blobs,
    )


async def run(args: argparse.Namespace) -> None:
    """Open the worker and fold the chapters it leases until killed."""
    nc = await open_nats(args.url, args.user, args.password, name=args.name)
    logs = Logs(nc)
    blobs = open_blob_store(args.blobs)
    settings = worker_settings(
        Path(args.data), args.url, args.user, args.password, args.chroma, views=args.views
    )
    leases = await ChapterLeases.open(nc, args.name, ttl=args.ttl)
    published = await PublishedCheckpoints.open(nc)
    read = await open_read_side(
        settings, logs, blobs, embedder=LocalEmbedder(), use_llm_settings=False,
        published=published, leases=leases,
    )  # fmt: skip
    trace = Trace(read.views, args.name)
    await trace.open()
    # The worker's own runner, over the real projections plus the trace.
    read.runner = Runner(
        LogSource(logs), [*read.projections, trace], leases=leases, published=published
    )
    await read.runner.start()
    print(READY, os.getpid(), flush=True)
    await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments and run forever."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--name", required=True, help="the worker's lease id")
    parser.add_argument("--url", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--data", required=True, help="the shared read models")
    parser.add_argument("--blobs", required=True, help="the blob store: a directory or s3:// URL")
    parser.add_argument("--views", default=None, help="the views' PostgreSQL URL (else SQLite)")
    parser.add_argument("--chroma", required=True, help="the Chroma server's URL")
    parser.add_argument("--ttl", type=float, default=3.0, help="lease lifetime, seconds")
    logging.basicConfig(level=logging.WARNING)  # lease and fold troubles, in the .out file
    asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
