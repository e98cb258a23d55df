"""Benchmark of verifiable history (issue 10): verifying a 1,000,000-event chapter (events/s and
peak RSS), the state at an arbitrary rev of a 100,000-event chapter, and Merkle inclusion and
consistency proofs at 1,000,000 events served from the stored tree — each beside a baseline run
in the same process.

    uv run python bench/bench_audit.py            # the figures (a few minutes)
    uv run python bench/bench_audit.py --quick    # tiny sizes: checks that the script works

Progress goes to stderr; the last line of stdout is one JSON object with the figures. Everything
runs against one fresh embedded nats-server in a temp dir (engine/server.py). Baselines:
- verify: reading the same stored batches without checking anything (`Log.stored_batches`), in
  the same child process, after the verification whose peak RSS is reported;
- state at a rev: from the fold checkpoints (projections/fold_snapshots.py) that the first
  question leaves behind, beside a fresh fold from rev 1 (what every question cost before; each
  answer is checked equal to it) and reading the same verified prefix without folding it;
- proofs: the same proofs computed from the log (`inclusion_proof`, `consistency_from_log`:
  every chain hash up to the size read and hashed again), as the route does when the tree is
  behind. Proof bytes are the hashes a proof carries (32 bytes each), not their hex.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import rust_core
from bench.common import (
    child_result,
    elapsed,
    embedded_nats,
    emit,
    full_and_quick,
    machine,
    median,
    ratio,
    run_child,
    say,
)
from bench.log_core import ACTOR, bodies, check
from engine.blobs import BlobStore, LocalBlobStore
from engine.jetstream.feed import Hole
from engine.log import Log
from engine.nats import NATS, open_nats
from engine.verify import verify_log
from events import ChapterCreated, ChapterRenamed, ThreadStarted, new_id
from projections.audit import chapter_at_rev, inclusion_proof
from projections.fold_snapshots import FoldSnapshots
from projections.store import Views
from projections.tree import Trees, consistency_from_log

APPEND_MANY_CHUNK = 50_000
"""Events per `append_many` call while writing a big chapter (bounds the writer's memory)."""
TREE_BATCH = 10_000
"""Events per `Trees.apply_recorded` call while folding the big chapter's tree."""


@dataclass(frozen=True)
class Sizes:
    """How much each section does (FULL for the figures, QUICK to check that the script runs)."""

    big_events: int
    """Events in the chapter that is verified and proved over."""
    state_events: int
    """Events in the chapter whose state is folded at a rev."""
    state_repeats: int
    """Folds at a rev (the median is reported), each side."""
    proofs: int
    """Proofs of each kind served from the tree (the median time is reported)."""


FULL, QUICK = full_and_quick(
    Sizes,
    big_events=(1_000_000, 3_000),
    state_events=(100_000, 2_000),
    state_repeats=(5, 2),
    proofs=(200, 20),
)


async def write_chapter(nc: NATS, total: int, blobs: BlobStore | None = None) -> Log:
    """A chapter of `total` events: created, then sources added with a rename every tenth event
    and a thread now and then (what a busy team chapter looks like to the fold). With `blobs`,
    the log seals personal fields there (every event but the proofs' is then sealed)."""
    log = Log(nc, new_id(), blobs=blobs)
    await log.create()
    await log.append(ChapterCreated(book=new_id(), title="Ledger"), actor=ACTOR)
    written, t0 = 1, time.perf_counter()
    while written < total:
        chunk = min(APPEND_MANY_CHUNK, total - written)
        items: list = bodies(written, chunk)
        for i in range(0, chunk, 10):
            items[i] = ChapterRenamed(title=f"Ledger {written + i}")
        for i in range(5, chunk, 1000):
            items[i] = ThreadStarted(thread=new_id(), title=f"Thread {written + i}")
        await log.append_many(items, actor=ACTOR)
        written += chunk
        if written % 200_000 == 0 or written == total:
            say(f"  {written:,} written ({written / (time.perf_counter() - t0):,.0f}/s)")
    check((await log.head()).rev == total, "the chapter does not hold every event")
    return log


# --- verifying the 1M-event chapter, in a child process for its peak RSS ---


async def bench_verify(server_login: dict[str, str], log: Log, total: int) -> dict[str, object]:
    say(f"verifying {total:,} events (engine/verify.py) in a child process")
    request = {**server_login, "chapter": log.id}
    result, sampled = await run_child(
        [__file__, "--verify-child"], stdin=json.dumps(request).encode(), timeout=540
    )
    head = await log.head()
    check(result["ok"] and result["events"] == total, f"verify checked {result['events']} events")
    check(result["head"] == head.hex, "verify ended at another chain head")
    check(result["raw_events"] == total, "the raw read saw another number of events")
    verify_eps = total / result["seconds"]
    raw_eps = total / result["raw_seconds"]
    say(
        f"  verify {verify_eps:,.0f}/s, raw read {raw_eps:,.0f}/s; peak RSS "
        f"{result['verify_peak_rss_mb']:.0f} MB after verifying ({sampled:.0f} MB in all)"
    )
    return {
        "verify_1m_eps": round(verify_eps),
        "verify_1m_peak_rss_mb": result["verify_peak_rss_mb"],
        "verify_1m_events": total,
        "verify_1m_child_baseline_rss_mb": result["baseline_rss_mb"],
        "raw_read_1m_eps": round(raw_eps),
        "verify_ratio": ratio(verify_eps, raw_eps),
    }


async def verify_child() -> None:
    """The child of `bench_verify`: verify a whole log, note the peak RSS, then read it raw."""
    from bench.common import peak_rss_mb

    request = json.loads(sys.stdin.read())
    nc = await open_nats(request["url"], request["user"], request["password"])
    log = Log(nc, request["chapter"])
    baseline = peak_rss_mb()  # the interpreter, the imports and the connection
    t0 = time.perf_counter()
    report = await verify_log(log)
    seconds = time.perf_counter() - t0
    verify_peak = peak_rss_mb()
    t0 = time.perf_counter()
    raw = 0
    async for item in log.stored_batches():
        if not isinstance(item, Hole):
            raw += len(item.payloads)
    raw_seconds = time.perf_counter() - t0
    await log.close()
    await nc.close()
    child_result(
        {
            "ok": report.ok,
            "events": report.events,
            "head": report.head_hex,
            "seconds": seconds,
            "verify_peak_rss_mb": verify_peak,
            "baseline_rss_mb": baseline,
            "raw_events": raw,
            "raw_seconds": raw_seconds,
        }
    )


# --- the state at a rev of a 100k-event chapter ---


async def bench_state(nc: NATS, sizes: Sizes) -> dict[str, object]:
    total = sizes.state_events
    say(f"writing a {total:,}-event chapter for the state at a rev")
    log = await write_chapter(nc, total)
    rng = random.Random(10)
    revs = [rng.randrange(total // 2, total + 1) for _ in range(sizes.state_repeats)]
    snapshots = FoldSnapshots()
    # The first question about the chapter folds it from rev 1 and leaves checkpoints behind.
    t0 = time.perf_counter()
    await snapshots.at(log, total)
    first_ms = (time.perf_counter() - t0) * 1000
    say(f"  first question (fold from rev 1, checkpoints kept): {first_ms:.0f} ms")
    fold_ms, fresh_ms, read_ms = [], [], []
    for rev in revs:
        t0 = time.perf_counter()
        snapshot = await snapshots.at(log, rev)
        fold_ms.append((time.perf_counter() - t0) * 1000)
        check(snapshot.rev == rev, f"the state was folded to rev {snapshot.rev}, not {rev}")
        t0 = time.perf_counter()
        fresh = await chapter_at_rev(log, rev)
        fresh_ms.append((time.perf_counter() - t0) * 1000)
        check(snapshot == fresh, f"the state at rev {rev} is not a fresh fold's")
        t0 = time.perf_counter()
        seen = 0
        async for batch in log.read_batches(0, rev, verify=True):
            seen += len(batch)
        read_ms.append((time.perf_counter() - t0) * 1000)
        check(seen == rev, "the read-only baseline read another prefix")
        say(
            f"  state at rev {rev:,}: {fold_ms[-1]:.0f} ms from a checkpoint, "
            f"{fresh_ms[-1]:.0f} ms folded from rev 1 (reading alone {read_ms[-1]:.0f} ms)"
        )
    await log.close()
    sealed_ms = await _state_sealed(nc, total, revs)
    return {
        "state_at_rev_100k_ms": round(median(fold_ms), 1),
        "state_fresh_fold_100k_ms": round(median(fresh_ms), 1),
        "state_first_question_100k_ms": round(first_ms, 1),
        "state_read_only_100k_ms": round(median(read_ms), 1),
        "state_speedup": ratio(median(fresh_ms), median(fold_ms)),
        "state_at_rev_100k_sealed_ms": round(median(sealed_ms), 1),
        "state_sealed_ratio": ratio(median(sealed_ms), median(fresh_ms)),
        "state_revs": revs,
    }


async def _state_sealed(nc: NATS, total: int, revs: list[int]) -> list[float]:
    """The same chapter written with sealing (docs/log-format.md, "Erasure"): every name and
    title in a personal blob of a local blob store, opened while folding (one batched read per
    batch of events)."""
    say(f"writing a sealed {total:,}-event chapter (personal blobs in a local blob store)")
    with tempfile.TemporaryDirectory(prefix="rs-bench-blobs-") as where:
        log = await write_chapter(nc, total, LocalBlobStore(where))
        out = []
        for rev in revs:
            t0 = time.perf_counter()
            snapshot = await chapter_at_rev(log, rev)
            out.append((time.perf_counter() - t0) * 1000)
            check(snapshot.rev == rev and snapshot.sources[0].name != "", "sealed names opened")
            say(f"  sealed state at rev {rev:,}: {out[-1]:.0f} ms")
        await log.close()
    return out


# --- proofs at 1M events from the stored tree ---


async def fold_tree(trees: Trees, log: Log) -> tuple[list[bytes], float]:
    """Fold the whole log into the stored tree; the chain hashes and the events/s."""
    leaves: list[bytes] = []
    pending: list = []
    t0 = time.perf_counter()
    async for batch in log.read_batches(verify=False):  # apply_recorded checks the chain
        pending.extend(batch)
        if len(pending) >= TREE_BATCH:
            await trees.apply_recorded(log.id, pending)
            leaves.extend(e.hash for e in pending)
            pending = []
    if pending:
        await trees.apply_recorded(log.id, pending)
        leaves.extend(e.hash for e in pending)
    return leaves, len(leaves) / (time.perf_counter() - t0)


def _size_mb(directory: Path) -> float:
    return sum(f.stat().st_size for f in directory.iterdir()) / 2**20


async def bench_proofs(log: Log, total: int, proofs: int) -> dict[str, object]:
    rng = random.Random(11)
    with tempfile.TemporaryDirectory(prefix="ragstack-bench-tree-") as tmp:
        views = await Views.open(Path(tmp) / "views.sqlite3")
        try:
            trees = Trees(views)
            await trees.open()
            say(f"folding the stored tree of {total:,} events")
            leaves, fold_eps = await fold_tree(trees, log)
            db_mb = _size_mb(Path(tmp))
            say(f"  {fold_eps:,.0f} events/s; views database {db_mb:.0f} MB")
            root = rust_core.merkle_root(leaves)
            check(await trees.root(log.id, total) == root, "the stored tree has another root")

            inclusion_ms, inclusion_bytes = [], []
            for _ in range(proofs):
                rev = rng.randrange(1, total + 1)
                t0 = time.perf_counter()
                proof = await trees.inclusion(log.id, rev, total)
                inclusion_ms.append((time.perf_counter() - t0) * 1000)
                check(proof.root == root and proof.verify(), f"the proof of rev {rev} fails")
                inclusion_bytes.append(32 * len(proof.proof))
            consistency_ms, consistency_bytes = [], []
            for _ in range(proofs):
                old = rng.randrange(1, total + 1)
                t0 = time.perf_counter()
                step = await trees.consistency(log.id, old, total)
                consistency_ms.append((time.perf_counter() - t0) * 1000)
                check(step.new_root == root and step.verify(), f"consistency from {old} fails")
                consistency_bytes.append(32 * len(step.proof))
            say(
                f"  from the tree: inclusion {median(inclusion_ms):.2f} ms, "
                f"consistency {median(consistency_ms):.2f} ms (medians of {proofs})"
            )

            say("  the same proofs from the log (the baseline: every chain hash read again)")
            rev, old = total // 3 + 1, total * 2 // 3
            t0 = time.perf_counter()
            from_log = await inclusion_proof(log, rev, total)
            log_inclusion_ms = (time.perf_counter() - t0) * 1000
            t0 = time.perf_counter()
            log_step = await consistency_from_log(log, old, total)
            log_consistency_ms = (time.perf_counter() - t0) * 1000
            check(from_log == await trees.inclusion(log.id, rev, total), "tree and log differ")
            check(log_step == await trees.consistency(log.id, old, total), "tree and log differ")
            say(
                f"  from the log: inclusion {log_inclusion_ms:.0f} ms, "
                f"consistency {log_consistency_ms:.0f} ms"
            )
        finally:
            await views.close()
    return {
        "inclusion_proof_bytes": max(inclusion_bytes),
        "inclusion_proof_ms": round(median(inclusion_ms), 3),
        "consistency_proof_bytes": max(consistency_bytes),
        "consistency_proof_ms": round(median(consistency_ms), 3),
        "inclusion_proof_log_ms": round(log_inclusion_ms, 1),
        "consistency_proof_log_ms": round(log_consistency_ms, 1),
        "inclusion_speedup": ratio(log_inclusion_ms, median(inclusion_ms)),
        "consistency_speedup": ratio(log_consistency_ms, median(consistency_ms)),
        "tree_fold_eps": round(fold_eps),
        "tree_db_mb": round(db_mb, 1),
        "proof_events": total,
    }


# --- the run ---


def targets(figures: dict[str, object]) -> dict[str, bool]:
    """The bars a run is read against, so that it says at a glance which it met."""
    f: dict = figures
    return {
        "verify_1m_peak_rss_mb<200": f["verify_1m_peak_rss_mb"] < 200,
        "state_at_rev_100k_ms<200": f["state_at_rev_100k_ms"] < 200,
        "inclusion_proof_ms<50": f["inclusion_proof_ms"] < 50,
        "consistency_proof_ms<50": f["consistency_proof_ms"] < 50,
        "elapsed_s<600": f["elapsed_s"] < 600,
    }


async def run(sizes: Sizes, *, quick: bool) -> dict[str, object]:
    figures: dict[str, object] = {"bench": "audit", "quick": quick, "machine_start": machine()}
    async with embedded_nats() as (server, nc):
        say(f"embedded nats-server at {server.url}, store {server.data_dir}")
        figures |= await bench_state(nc, sizes)
        say(f"writing {sizes.big_events:,} events (append_many, {APPEND_MANY_CHUNK:,} a call)")
        t0 = time.perf_counter()
        big = await write_chapter(nc, sizes.big_events)
        figures["write_1m_eps"] = round(sizes.big_events / (time.perf_counter() - t0))
        login = {"url": server.url, "user": server.user, "password": server.password}
        figures |= await bench_verify(login, big, sizes.big_events)
        figures |= await bench_proofs(big, sizes.big_events, sizes.proofs)
        await big.close()
    figures["sizes"] = asdict(sizes)
    figures["machine_end"] = machine()
    figures["elapsed_s"] = round(elapsed(), 1)
    figures["targets"] = targets(figures)
    return figures


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to check the script")
    parser.add_argument("--verify-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(None if argv is None else list(argv))
    if args.verify_child:
        asyncio.run(verify_child())
        return
    sizes = QUICK if args.quick else FULL
    figures = asyncio.run(run(sizes, quick=args.quick))
    say(f"done in {figures['elapsed_s']} s")
    emit(figures)


if __name__ == "__main__":
    main()
