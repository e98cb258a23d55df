"""Benchmark of the chapter log (issue 2): appends, bulk appends, verified replay, memory of a
1M-event replay, chain verification in Rust, and diff in Rust — each against a baseline run in
the same process.

    uv run python bench/bench_log.py            # the figures (a few minutes)
    uv run python bench/bench_log.py --quick    # tiny sizes: checks that the script works

Progress goes to stderr; the last line of stdout is one JSON object with the figures. Everything
runs against one fresh embedded nats-server (engine/server.py: `sync_interval: always`, so every
acknowledged append has been fsynced) in a temp dir. Baselines:
- sequential appends: raw `js.publish` of payloads of the same sizes to a stream of its own with
  the same configuration (file storage), one at a time;
- bulk appends: raw `js.publish_async` with a bounded window of unacknowledged publishes;
- replay: a raw nats-py ordered consumer (`js.subscribe(ordered_consumer=True)`) over the same
  stream, touching each message's data and nothing more (no verification);
- chain verification: the same loop in pure Python with hashlib (bench/log_core.py);
- diff: difflib's line matcher, turned into a patch that reproduces the new text.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy

from bench.common import (
    alternate,
    bench_parser,
    child_result,
    done,
    embedded_nats,
    finished,
    full_and_quick,
    machine,
    median,
    ratio,
    run_child,
    say,
)
from bench.log_core import ACTOR, bench_chain, bench_diff, bodies, check, envelopes
from engine.jetstream.streams import ensure_stream
from engine.log import Log
from engine.nats import NATS, open_nats
from events import new_id
from rust_core import GENESIS

RAW_ASYNC_WINDOW = 512
"""Unacknowledged `publish_async` calls allowed at once (nats-py's semaphore) in the baseline;
nats-py's default is 4,000, but on a durable server a window of a few hundred was as fast or
faster (the server fsyncs every message either way). `--raw-async-window` changes it."""
APPEND_MANY_CHUNK = 50_000
"""Events per `append_many` call while writing the 1M-event log (bounds the writer's memory)."""


@dataclass(frozen=True)
class Sizes:
    """How much each section does (FULL for the figures, QUICK to check that the script runs)."""

    rounds: int
    """Alternating rounds per contender in the compared sections (the median is reported)."""
    seq_events: int
    """Sequential appends per round, each side."""
    bulk_events: int
    """Bulk appends per round, each side."""
    big_events: int
    """Events in the log replayed by a child process for its peak RSS."""
    chain_events: int
    """Payloads verified by rust_core and by the Python loop."""
    diff_bytes: int
    """Size of the text diffed by rust_core and difflib."""
    diff_edits: int
    """Scattered edits between the two texts."""


FULL, QUICK = full_and_quick(
    Sizes,
    rounds=(3, 2),
    seq_events=(2_000, 200),
    bulk_events=(30_000, 2_000),
    big_events=(1_000_000, 10_000),
    chain_events=(200_000, 2_000),
    diff_bytes=(1_000_000, 50_000),
    diff_edits=(200, 20),
)


async def raw_stream(nc: NATS, name: str) -> str:
    """A baseline stream configured like a chapter log (file storage, same limits); its subject."""
    subject = f"bench.raw.{name.lower()}"
    await ensure_stream(nc.jetstream(), f"BENCH_RAW_{name}", subject)
    return subject


async def stored(nc: NATS, stream: str) -> int:
    return int((await nc.jetstream().stream_info(stream)).state.messages)


# --- sequential durable appends ---


async def bench_sequential(nc: NATS, sizes: Sizes) -> dict[str, object]:
    say(f"sequential durable appends: {sizes.rounds} rounds x {sizes.seq_events:,} each side")
    log = Log(nc, new_id())
    await log.create()
    subject = await raw_stream(nc, "SEQ")
    js = nc.jetstream(timeout=10)
    engine_rounds = iter([bodies(0, sizes.seq_events) for _ in range(sizes.rounds)])
    raw_rounds = iter(
        [envelopes(new_id(), 1, bodies(0, sizes.seq_events)) for _ in range(sizes.rounds)]
    )

    async def engine() -> int:
        items = next(engine_rounds)
        for body in items:
            await log.append(body, actor=ACTOR)
        return len(items)

    async def raw() -> int:
        payloads = next(raw_rounds)
        for payload in payloads:
            await js.publish(subject, payload)
        return len(payloads)

    rates = await alternate(sizes.rounds, {"engine Log.append": engine, "raw js.publish": raw})
    total = sizes.rounds * sizes.seq_events
    check((await log.head()).rev == total, "the engine log does not hold every append")
    check(await stored(nc, "BENCH_RAW_SEQ") == total, "the raw stream does not hold every publish")
    append, raw_eps = median(rates["engine Log.append"]), median(rates["raw js.publish"])
    return {
        "append_seq_eps": round(append),
        "raw_seq_eps": round(raw_eps),
        "append_seq_ratio": ratio(append, raw_eps),
        "append_seq_rounds_eps": [round(x) for x in rates["engine Log.append"]],
        "raw_seq_rounds_eps": [round(x) for x in rates["raw js.publish"]],
    }


# --- bulk appends ---


async def bench_bulk(nc: NATS, sizes: Sizes, window: int) -> tuple[Log, dict[str, object]]:
    say(f"bulk appends: {sizes.rounds} rounds x {sizes.bulk_events:,} each side")
    log = Log(nc, new_id())
    await log.create()
    subject = await raw_stream(nc, "ASYNC")
    js = nc.jetstream(timeout=10, publish_async_max_pending=window)
    engine_rounds = iter(
        [bodies(r * sizes.bulk_events, sizes.bulk_events) for r in range(sizes.rounds)]
    )
    raw_rounds = iter(
        [envelopes(new_id(), 1, bodies(0, sizes.bulk_events)) for _ in range(sizes.rounds)]
    )

    async def engine() -> int:
        items = next(engine_rounds)
        return len(await log.append_many(items, actor=ACTOR))

    async def raw() -> int:
        payloads = next(raw_rounds)
        # publish_async waits for a free slot once `window` publishes are unacknowledged.
        futures = [await js.publish_async(subject, payload) for payload in payloads]
        acks = await asyncio.wait_for(asyncio.gather(*futures), 120)
        return len(acks)

    rates = await alternate(
        sizes.rounds, {"engine Log.append_many": engine, "raw js.publish_async": raw}
    )
    total = sizes.rounds * sizes.bulk_events
    check((await log.head()).rev == total, "the engine log does not hold every bulk append")
    check(await stored(nc, "BENCH_RAW_ASYNC") == total, "the raw stream lacks some publishes")
    bulk, raw_eps = median(rates["engine Log.append_many"]), median(rates["raw js.publish_async"])
    return log, {
        "bulk_eps": round(bulk),
        "raw_async_eps": round(raw_eps),
        "bulk_ratio": ratio(bulk, raw_eps),
        "bulk_rounds_eps": [round(x) for x in rates["engine Log.append_many"]],
        "raw_async_rounds_eps": [round(x) for x in rates["raw js.publish_async"]],
        "raw_async_window": window,
    }


# --- replay ---


async def raw_ordered_read(nc: NATS, stream: str, subject: str, count: int) -> int:
    """Read `count` messages with nats-py's ordered consumer, touching each one's data: the
    fastest plain nats-py read (a callback, no per-message await of `next_msg`)."""
    seen = 0
    size = 0
    done = asyncio.get_running_loop().create_future()

    async def on_message(msg: Msg) -> None:
        nonlocal seen, size
        seen += 1
        size += len(msg.data)
        if seen == count and not done.done():
            done.set_result(None)

    sub = await nc.jetstream().subscribe(
        subject,
        stream=stream,
        cb=on_message,
        ordered_consumer=True,
        deliver_policy=DeliverPolicy.ALL,
    )
    try:
        await asyncio.wait_for(done, 300)
    finally:
        await sub.unsubscribe()
    return seen


async def bench_replay(nc: NATS, log: Log, sizes: Sizes) -> dict[str, object]:
    head = await log.head()
    say(f"verified replay of {head.rev:,} events: {sizes.rounds} rounds each")

    async def batches() -> int:
        seen = 0
        last = GENESIS
        async for batch in log.read_batches(verify=True):
            seen += len(batch)
            last = batch[-1].hash
        check(seen == head.rev and last == head.hash, "the verified replay missed events")
        return seen

    async def events() -> int:
        seen = 0
        async for _ in log.read(verify=True):
            seen += 1
        check(seen == head.rev, "the verified replay (Log.read) missed events")
        return seen

    async def raw() -> int:
        seen = await raw_ordered_read(nc, log.stream, log.subject, head.rev)
        check(seen == head.rev, "the raw ordered consumer missed events")
        return seen

    rates = await alternate(
        sizes.rounds,
        {
            "engine Log.read_batches(verify=True)": batches,
            "engine Log.read(verify=True)": events,
            "raw ordered consumer": raw,
        },
    )
    replay = median(rates["engine Log.read_batches(verify=True)"])
    raw_eps = median(rates["raw ordered consumer"])
    return {
        "replay_verify_eps": round(replay),
        "raw_replay_eps": round(raw_eps),
        "replay_ratio": ratio(replay, raw_eps),
        "replay_read_eps": round(median(rates["engine Log.read(verify=True)"])),
        "replay_events": head.rev,
    }


# --- 1M-event replay in a child process, for its peak RSS ---


async def bench_big_replay(
    nc: NATS, url: str, user: str, password: str, sizes: Sizes
) -> dict[str, object]:
    total = sizes.big_events
    say(f"writing {total:,} events for the memory test (append_many, {APPEND_MANY_CHUNK:,} a call)")
    log = Log(nc, new_id())
    await log.create()
    t0 = time.perf_counter()
    written = 0
    while written < total:
        chunk = min(APPEND_MANY_CHUNK, total - written)
        await log.append_many(bodies(written, chunk), actor=ACTOR)
        written += chunk
        if written % 200_000 == 0 or written == total:
            say(f"  {written:,} written ({written / (time.perf_counter() - t0):,.0f}/s)")
    write_seconds = time.perf_counter() - t0
    head = await log.head()
    check(head.rev == total, "the big log does not hold every event")
    say(f"replaying {total:,} events with verification in a child process")
    request = {"url": url, "user": user, "password": password, "chapter": log.id}
    result, peak = await run_child(
        [__file__, "--replay-child"], stdin=json.dumps(request).encode(), timeout=540
    )
    check(result["events"] == total, f"the child replayed {result['events']} of {total} events")
    check(result["head"] == head.hex, "the child's replay ended at another chain head")
    say(f"  child: {total:,} events in {result['seconds']:.1f} s, peak RSS {peak:.0f} MB")
    return {
        "replay_1m_peak_rss_mb": peak,
        "replay_1m_events": total,
        "replay_1m_eps": round(total / result["seconds"]),
        "replay_1m_child_baseline_rss_mb": result["baseline_rss_mb"],
        "write_1m_eps": round(total / write_seconds),
    }


async def replay_child() -> None:
    """The child of `bench_big_replay`: replay a whole log with verification, report the head."""
    from bench.common import peak_rss_mb

    request = json.loads(sys.stdin.read())
    nc = await open_nats(request["url"], request["user"], request["password"])
    log = Log(nc, request["chapter"])
    baseline = peak_rss_mb()  # the interpreter, the imports and the connections
    t0 = time.perf_counter()
    seen, last = 0, GENESIS
    async for batch in log.read_batches(verify=True):
        seen += len(batch)
        last = batch[-1].hash
    seconds = time.perf_counter() - t0
    await log.close()
    await nc.close()
    child_result(
        {"events": seen, "head": last.hex(), "seconds": seconds, "baseline_rss_mb": baseline}
    )


# --- the run ---


def targets(figures: dict[str, object]) -> dict[str, bool]:
    """The issue's bars, so that a run says at a glance which it met."""
    f: dict = figures
    return {
        "append_seq_ratio>=0.8": f["append_seq_ratio"] >= 0.8,
        "bulk_eps>=20000": f["bulk_eps"] >= 20_000,
        "replay_verify_eps>=100000": f["replay_verify_eps"] >= 100_000,
        "replay_ratio>=0.8": f["replay_ratio"] >= 0.8,
        "replay_1m_peak_rss_mb<200": f["replay_1m_peak_rss_mb"] < 200,
    }


async def run(sizes: Sizes, *, quick: bool, window: int) -> dict[str, object]:
    figures: dict[str, object] = {"bench": "log", "quick": quick, "machine_start": machine()}
    async with embedded_nats() as (server, nc):
        figures |= await bench_sequential(nc, sizes)
        bulk_log, bulk = await bench_bulk(nc, sizes, window)
        figures |= bulk
        figures |= await bench_replay(nc, bulk_log, sizes)
        await bulk_log.close()
        figures |= await bench_big_replay(nc, server.url, server.user, server.password, sizes)
    figures |= bench_chain(sizes.chain_events)
    figures |= bench_diff(sizes.diff_bytes, sizes.diff_edits)
    return finished(figures, sizes, targets(figures))


def main(argv: Sequence[str] | None = None) -> None:
    parser = bench_parser(__doc__)
    parser.add_argument(
        "--raw-async-window",
        type=int,
        default=RAW_ASYNC_WINDOW,
        help=f"publish_async window of the bulk baseline (default {RAW_ASYNC_WINDOW})",
    )
    parser.add_argument("--replay-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(None if argv is None else list(argv))
    if args.replay_child:
        asyncio.run(replay_child())
        return
    if args.raw_async_window < 1:
        parser.error("--raw-async-window must be at least 1")
    sizes = QUICK if args.quick else FULL
    done(asyncio.run(run(sizes, quick=args.quick, window=args.raw_async_window)))


if __name__ == "__main__":
    main()
