"""Benchmark of sharing (issue 9): one function per figure, each against a baseline run in the
same process (copy here; proxied in bench_share_proxied.py; direct in bench_share_direct.py).

    uv run python bench/bench_share.py            # the figures
    uv run python bench/bench_share.py --quick    # tiny sizes: checks that the script works

Progress goes to stderr; the last line of stdout is one JSON object with the figures. Everything
runs against one fresh embedded nats-server (engine/server.py: `sync_interval: always`) in a temp
dir.

- copy (`bench_copy`): a chapter of N events (sources added by a person, extracted by ingest,
  retagged, a thread of questions and answers, and shares and renames a copy leaves out) written
  with the bulk append; then `build_manifest` (the owner's verified read, Merkle root once),
  `import_copy` (the guest's check, `ChapterForked`, the bulk re-issue, registration; blobs are on
  the same server) and `verify_copy_chapter` (the copy read back and every copied event checked
  against the original). `copy_100k_s` is the three together. Baseline: a raw bulk append
  (`Log.append_many`) of the same bodies to a fresh log, the floor under any import.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.bench_share_direct import direct_latency
from bench.bench_share_proxied import owner_reads, proxied_compaction
from bench.common import (
    bench_parser,
    done,
    embedded_nats,
    finished,
    full_and_quick,
    machine,
    ratio,
    say,
)
from engine.blobs import LocalBlobStore
from engine.books import Books
from engine.copies import build_manifest, import_copy, verify_copy_chapter
from engine.log import Logs
from engine.nats import NATS
from events import (
    Body,
    ChapterRenamed,
    MessagePosted,
    ShareGranted,
    SourceAdded,
    SourceExtracted,
    SourceRetagged,
    ThreadStarted,
    decode,
    new_id,
)
from events.copies import encode_manifest

APPEND_CHUNK = 50_000
"""Events per `append_many` call while writing the original (bounds the writer's memory)."""


@dataclass(frozen=True)
class Sizes:
    """How much each section does (FULL for the figures, QUICK to check that the script runs)."""

    copy_events: int
    """Events in the chapter that is copied."""
    sources: int
    """Proxied: sources in the shared chapter."""
    edits: int
    """Proxied: edits of each source within the measured tick."""
    text_chars: int
    """Proxied: size of each source's text."""
    guests: int
    """Proxied: guests polling for the owner's read count."""
    ticks: int
    """Proxied: 1 s ticks the guests poll through."""
    direct_events: int
    """Direct: appends timed from the owner's call to the guest's replica."""


FULL, QUICK = full_and_quick(
    Sizes, copy_events=(100_000, 2_000), sources=(20, 3), edits=(10, 3),
    text_chars=(20_000, 2_000), guests=(100, 100), ticks=(5, 2), direct_events=(500, 50),
)  # fmt: skip


def check(condition: bool, what: str) -> None:
    """A benchmark that measured something wrong must not print a figure."""
    if not condition:
        raise SystemExit(f"bench_share: {what}")


# --- copy ---


def chapter_events(count: int, blobs: Sequence[str]) -> tuple[list[Body], list[str]]:
    """`count` events of a busy chapter and their actors: per ten events, three sources added by
    a person and extracted by ingest, a retag, a question and its answer, and a share or a rename
    (which a copy leaves out)."""
    bodies: list[Body] = [ThreadStarted(thread="t", title="Questions")]
    actors = ["ann"]
    i = 0
    while len(bodies) < count:
        n = i // 10
        kind = i % 10
        source = f"s{n % 3}-{n}"
        if kind < 3:
            body: Body = SourceAdded(
                source=f"s{kind}-{n}", name=f"report-{n:07d}-{kind}.pdf",
                media_type="application/pdf", blob=blobs[kind], size=10_000 + n, tags=["2024"],
            )  # fmt: skip
            actor = "ann"
        elif kind < 6:
            body = SourceExtracted(
                source=f"s{kind - 3}-{n}", text_blob=blobs[3], extractor="pdf",
                extractor_version="1", media_type="application/pdf", chunk_count=12,
            )  # fmt: skip
            actor = "proc:ingest"
        elif kind == 6:
            body, actor = SourceRetagged(source=source, tags=["2024", "finance"]), "ann"
        elif kind == 7:
            body = MessagePosted(thread="t", message=f"q{n}", role="user", text=f"What about {n}?")
            actor = "ann"
        elif kind == 8:
            body = MessagePosted(
                thread="t", message=f"a{n}", role="assistant", text=f"Report {n} says so."
            )
            actor = "proc:chat"
        else:
            body = (
                ShareGranted(share=new_id(), mode="copy", grantee="bob@example.org")
                if n % 2
                else ChapterRenamed(title=f"Reports {n}")
            )
            actor = "ann"
        bodies.append(body)
        actors.append(actor)
        i += 1
    return bodies, actors


async def _write(logs: Logs, chapter: str, bodies: list[Body], actors: list[str]) -> None:
    log = logs.chapter(chapter)
    for start in range(0, len(bodies), APPEND_CHUNK):
        end = start + APPEND_CHUNK
        await log.append_many(bodies[start:end], actor=actors[start:end])


async def bench_copy(nc: NATS, sizes: Sizes) -> dict[str, object]:
    """copy_100k_s: build the manifest, import it, verify the copy."""
    total = sizes.copy_events
    with tempfile.TemporaryDirectory(prefix="ragstack-bench-blobs-") as tmp:
        blobs = LocalBlobStore(Path(tmp))
        digests = [await blobs.put(f"blob {k}".encode()) for k in range(4)]
        async with Logs(nc) as logs:
            books = Books(logs)
            await books.start()
            try:
                owner = await books.create_book("ann", "ann@example.org", "Reports")
                chapter = (await books.create_chapter("ann", owner.id, "Reports")).id
                bodies, actors = chapter_events(total - 1, digests)  # rev 1 is ChapterCreated
                say(f"copy: writing a {total:,}-event chapter (append_many)")
                t0 = time.perf_counter()
                await _write(logs, chapter, bodies, actors)
                write_s = time.perf_counter() - t0
                head = await logs.chapter(chapter).head()
                check(head.rev == total, f"the original has {head.rev} events, not {total}")

                say("copy: build_manifest (verified read, Merkle root)")
                t0 = time.perf_counter()
                manifest = await build_manifest(
                    logs.chapter(chapter), upto=head.rev, scope=["sources", "threads"]
                )
                data = encode_manifest(manifest)
                build_s = time.perf_counter() - t0
                copied = len(manifest.events)
                say(
                    f"  {copied:,} events in scope, manifest {len(data) / 1e6:.1f} MB, {build_s:.2f} s"
                )

                guest = await books.create_book("bob", "bob@example.org", "Bob's")
                say("copy: import_copy (check, fork, bulk re-issue, register)")
                t0 = time.perf_counter()
                copy = await import_copy(
                    books, logs, blobs, actor="bob", book=guest.id, title="Reports (copy)",
                    share="bench", manifest=data, fetch_blob=blobs.get,
                )  # fmt: skip
                import_s = time.perf_counter() - t0
                say(f"  {import_s:.2f} s")

                say("copy: verify_copy_chapter (read the copy, check every event)")
                t0 = time.perf_counter()
                report = await verify_copy_chapter(logs, blobs, copy)
                verify_s = time.perf_counter() - t0
                check(report.ok, f"the copy does not verify: {report.reason}")
                check(report.checked == copied, "the verifier did not check every copied event")
                say(f"  {verify_s:.2f} s")

                say("copy: baseline, a raw bulk append of the same bodies")
                same = [decode(e.payload) for e in manifest.events]
                baseline = logs.chapter(new_id())
                await baseline.create()
                t0 = time.perf_counter()
                await baseline.append_many([e.body for e in same], actor=[e.actor for e in same])
                append_s = time.perf_counter() - t0
                say(f"  {append_s:.2f} s")
            finally:
                await books.stop()
    copy_s = build_s + import_s + verify_s
    return {
        "copy_100k_s": round(copy_s, 3),
        "copy_events": total,
        "copy_copied_events": copied,
        "copy_build_manifest_s": round(build_s, 3),
        "copy_import_s": round(import_s, 3),
        "copy_verify_s": round(verify_s, 3),
        "copy_manifest_mb": round(len(data) / 1e6, 2),
        "copy_write_original_s": round(write_s, 3),
        "copy_baseline_append_s": round(append_s, 3),
        "copy_import_vs_append": ratio(import_s, append_s),
        "copy_total_vs_append": ratio(copy_s, append_s),
    }


# --- the run ---


def targets(figures: dict[str, object]) -> dict[str, bool]:
    """The issue's bars, so that a run says at a glance which it met."""
    f: dict = figures
    return {
        "copy_100k_s<60": f["copy_100k_s"] < 60,  # "in seconds"
        "copy_import_vs_append<=1.5": f["copy_import_vs_append"] <= 1.5,
        "direct_p99_ms<=20": f["direct_p99_ms"] <= 20,
        "owner_reads_per_tick_100_guests==1": f["owner_reads_per_tick_100_guests"] == 1,
    }


async def run(sizes: Sizes, *, quick: bool) -> dict[str, object]:
    figures: dict[str, object] = {"bench": "share", "quick": quick, "machine_start": machine()}
    async with embedded_nats() as (server, nc):
        figures |= await bench_copy(nc, sizes)
        with tempfile.TemporaryDirectory(prefix="ragstack-bench-share-") as tmp:
            figures |= await proxied_compaction(nc, Path(tmp), sizes)
            figures |= await owner_reads(nc, Path(tmp), sizes)
            say(f"direct: {sizes.direct_events} appends to a guest's replica")
            figures |= await direct_latency(server, nc, Path(tmp), events=sizes.direct_events)
    return finished(figures, sizes, targets(figures))


def main(argv: Sequence[str] | None = None) -> None:
    args = bench_parser(__doc__).parse_args(None if argv is None else list(argv))
    done(asyncio.run(run(QUICK if args.quick else FULL, quick=args.quick)))


if __name__ == "__main__":
    main()
