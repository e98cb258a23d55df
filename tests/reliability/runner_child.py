"""A worker in a child process, for tests that SIGKILL it: `python -m tests.reliability.runner_child`.

It opens the read side over a running nats-server and a data directory, wraps the real local
embedder so that every chunk it embeds is appended (as its chunk hash) to a record file, flushed
and fsynced per batch, runs the runner, and never exits by itself: only a signal ends it.
"""

import argparse
import asyncio
import os
import sys
from pathlib import Path

import rust_core
from engine.blobs import LocalBlobStore
from engine.log import Logs
from engine.nats import open_nats
from projections.providers.local_embedder import LocalEmbedder
from tests.projections.pipeline_support import open_test_worker

READY = "runner-child ready"
"""Printed (and flushed) on stdout once the runner is started."""


def chunk_hash(text: str) -> str:
    """The chunk id of `text`, as ingest names chunks."""
    return rust_core.hash(text.encode()).hex()


def read_record(path: Path) -> list[str]:
    """The chunk hashes a child embedded, in order (a torn last line from a kill is dropped)."""
    if not path.exists():
        return []
    lines = path.read_bytes().split(b"\n")
    return [line.decode() for line in lines[:-1] if len(line) == 64]


class RecordingEmbedder:
    """The local embedder, with a durable record of every text it was asked to embed."""

    def __init__(self, inner: LocalEmbedder, record: Path) -> None:
        self.inner = inner
        self.model = inner.model
        self._record = record

    async def embed(self, texts: list[str]) -> list[list[float]]:
        """Embed, then append one chunk hash per text to the record (fsynced)."""
        vectors = await self.inner.embed(texts)
        lines = "".join(f"{chunk_hash(t)}\n" for t in texts).encode()
        await asyncio.to_thread(self._append, lines)
        return vectors

    def _append(self, lines: bytes) -> None:
        with self._record.open("ab") as file:
            file.write(lines)
            file.flush()
            os.fsync(file.fileno())


async def run(args: argparse.Namespace) -> None:
    """Open the worker and follow every chapter until killed."""
    nc = await open_nats(args.url, args.user, args.password, name="runner-child")
    logs = Logs(nc)
    blobs = LocalBlobStore(args.blobs)
    embedder = RecordingEmbedder(LocalEmbedder(), Path(args.record))
    worker = await open_test_worker(Path(args.data), logs, blobs, embedder)
    await worker.runner.start()
    print(READY, flush=True)
    await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments and run forever."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--data", required=True, help="the worker's read models")
    parser.add_argument("--blobs", required=True, help="the blob store directory")
    parser.add_argument("--record", required=True, help="file of embedded chunk hashes")
    asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
