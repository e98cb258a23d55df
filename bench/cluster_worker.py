"""One lease-holding worker for bench/bench_cluster.py: `python -m bench.cluster_worker …`.

The real read side (role worker: folds only the chapters whose lease it holds, publishes its
checkpoints) over a data directory shared with the other workers and a Chroma server. It prints
READY once open, then waits for a line on stdin before it starts folding, so that N workers
start together and the clock measures folding, not Python's start-up.
"""

import argparse
import asyncio
import sys
from pathlib import Path

from app.readside import open_read_side
from app.settings import load_settings
from engine.blobs import LocalBlobStore
from engine.jetstream.checkpoints import PublishedCheckpoints
from engine.jetstream.leases import ChapterLeases
from engine.log import Logs
from engine.nats import open_nats

READY = "cluster-worker ready"


async def run(args: argparse.Namespace) -> None:
    """Open the worker, wait for the start signal, fold until killed."""
    nc = await open_nats(args.url, args.user, args.password, name=args.name)
    settings = load_settings(
        environ={},
        data_dir=args.data,
        llm={"kind": "extractive"},
        nats={"url": args.url, "user": args.user, "password": args.password},
        vectors={"url": args.chroma},
    )
    leases = await ChapterLeases.open(nc, args.name, ttl=args.ttl)
    published = await PublishedCheckpoints.open(nc)
    read = await open_read_side(
        settings, Logs(nc), LocalBlobStore(Path(args.data) / "blobs"),
        use_llm_settings=False, published=published, leases=leases,
    )  # fmt: skip
    print(READY, flush=True)
    await asyncio.to_thread(sys.stdin.readline)  # the start signal
    await read.runner.start()
    await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments and run until killed."""
    parser = argparse.ArgumentParser(description=__doc__)
    for flag in ("--name", "--url", "--user", "--password", "--data", "--chroma"):
        parser.add_argument(flag, required=True)
    parser.add_argument("--ttl", type=float, default=6.0)
    asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
