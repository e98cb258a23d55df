"""Proxied sharing's figures: what compaction saves per tick, and owner reads with 100 guests.

    uv run python bench/bench_share_proxied.py [--quick]

Both run the real relay (app/relay.py) over a real log on an embedded nats-server, with guests'
accesses made up (token resolution is the engine's, not the relay's, and is left out).

- proxied_compaction_ratio: an edit-heavy tick (every source edited `edits` times, each edit
  followed by its re-extraction with a chunk manifest, as ingest writes them, and a retag or two)
  served to a guest at the last watermark: the JSON bytes of the compacted events the feed
  serves over the JSON bytes of the raw events of the tick (lower is better).
- owner_reads_per_tick_100_guests: 100 guests poll every 100 ms for a few 1 s ticks while the
  owner appends; the owner's log reads divided by the ticks (must be 1).

The functions `proxied_compaction` and `owner_reads` return their figures as dicts;
bench/bench_share.py runs them with its other figures.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import msgspec

from app.relay import Relay
from bench.common import say
from bench.log_core import make_text, scatter_edits
from engine.blobs.local import LocalBlobStore
from engine.books import Books
from engine.log import Logs
from engine.nats import NATS
from engine.shares import ShareAccess
from engine.sources import edit_source
from events import (
    ChapterCreated,
    ChunkRef,
    SourceAdded,
    SourceExtracted,
    SourceRetagged,
    new_id,
)

__all__ = ["Sizes", "owner_reads", "proxied_compaction"]


class Sizes(Protocol):
    """What the two figures need of bench/bench_share.py's sizes."""

    sources: int
    """Sources in the shared chapter."""
    edits: int
    """Edits of each source within the one measured tick."""
    text_chars: int
    """Size of each source's text."""
    guests: int
    """Guests polling for the read count."""
    ticks: int
    """1 s ticks the guests poll through."""


def _access(chapter: str, book: str, n: int) -> ShareAccess:
    return ShareAccess(
        id=f"share{n}", chapter=chapter, book=book, mode="proxied", grantee=f"g{n}@example.org",
        permissions=[], scope=["sources", "notes"], granted_rev=1,
    )  # fmt: skip


def _chunks(text: str) -> list[ChunkRef]:
    step = max(1, len(text) // 20)
    return [
        ChunkRef(hash=f"{i:064x}", start=i, end=min(len(text), i + step))
        for i in range(0, len(text), step)
    ]


async def _extracted(blobs: LocalBlobStore, source: str, text: str) -> SourceExtracted:
    return SourceExtracted(
        source=source, text_blob=await blobs.put(text.encode()), extractor="text",
        extractor_version="1", media_type="text/plain", chunks=_chunks(text),
        chunk_count=len(_chunks(text)),
    )  # fmt: skip


def _json_bytes(bodies: Sequence[object]) -> int:
    return len(msgspec.json.encode([msgspec.to_builtins(b) for b in bodies]))


async def proxied_compaction(nc: NATS, blob_dir: Path, sizes: Sizes) -> dict[str, object]:
    """Bytes served for one edit-heavy tick, compacted and raw."""
    rng = random.Random(9)
    logs, blobs = Logs(nc), LocalBlobStore(blob_dir)
    chapter, book = new_id(), new_id()
    log = logs.chapter(chapter)
    await log.create()
    await log.append(ChapterCreated(book=book, title="Edits"), actor="owner")
    texts: dict[str, str] = {}
    for _ in range(sizes.sources):
        source, text = new_id(), make_text(rng, sizes.text_chars)
        blob = await blobs.put(text.encode())
        await log.append(
            SourceAdded(source=source, name=f"{source}.txt", media_type="text/plain", blob=blob,
                        size=len(text)),
            actor="owner",
        )  # fmt: skip
        await log.append(await _extracted(blobs, source, text), actor="proc:ingest")
        texts[source] = text
    relay = Relay(logs, Books(logs), blobs, tick_s=60)
    guest = _access(chapter, book, 0)
    first = await relay.tick(guest)
    say(f"compaction: {sizes.sources} sources of {sizes.text_chars} chars at rev {first.rev}")

    # One tick's worth of work: each source edited `edits` times, re-extracted after each.
    for source, text in texts.items():
        for e in range(sizes.edits):
            new = scatter_edits(rng, text, 3)
            await edit_source(
                log, blobs, actor="owner", source=source,
                base_text=(await _extracted(blobs, source, text)).text_blob, new_text=new,
            )  # fmt: skip
            await log.append(await _extracted(blobs, source, new), actor="proc:ingest")
            if e % 5 == 0:
                await log.append(SourceRetagged(source=source, tags=[f"v{e}"]), actor="owner")
            text = new
    mark = await relay.tick(guest)
    raw = [r.envelope.body async for r in log.read(after=first.rev, until=mark.rev)]
    started = time.perf_counter()
    batch = await relay.feed(guest, first.rev)
    compact_s = time.perf_counter() - started
    served, raw_bytes = _json_bytes(batch.events), _json_bytes(raw)
    await relay.close()
    await logs.close()
    say(f"compaction: {len(raw)} raw events ({raw_bytes} B) -> {len(batch.events)} ({served} B)")
    return {
        "proxied_raw_events_per_tick": len(raw),
        "proxied_served_events_per_tick": len(batch.events),
        "proxied_raw_bytes_per_tick": raw_bytes,
        "proxied_served_bytes_per_tick": served,
        "proxied_compaction_ratio": round(served / raw_bytes, 4),
        "proxied_compaction_s": round(compact_s, 3),
    }


async def owner_reads(nc: NATS, blob_dir: Path, sizes: Sizes) -> dict[str, object]:
    """Owner log reads per tick while `sizes.guests` guests poll through `sizes.ticks` ticks."""
    logs, blobs = Logs(nc), LocalBlobStore(blob_dir)
    chapter, book = new_id(), new_id()
    log = logs.chapter(chapter)
    await log.create()
    await log.append(ChapterCreated(book=book, title="Busy"), actor="owner")
    relay = Relay(logs, Books(logs), blobs, tick_s=1)
    guests = [_access(chapter, book, n) for n in range(sizes.guests)]
    polls = 0
    stop = asyncio.Event()

    async def guest(access: ShareAccess) -> None:
        nonlocal polls
        after = 0
        while not stop.is_set():
            batch = await relay.feed(access, after)
            after, polls = batch.rev, polls + 1
            await asyncio.sleep(0.1)

    async def owner() -> None:
        n = 0
        while not stop.is_set():
            blob = await blobs.put(f"note {n}".encode())
            await log.append(
                SourceAdded(source=new_id(), name=f"n{n}.txt", media_type="text/plain",
                            blob=blob, size=6),
                actor="owner",
            )  # fmt: skip
            n += 1
            await asyncio.sleep(0.05)

    tasks = [asyncio.create_task(guest(g)) for g in guests] + [asyncio.create_task(owner())]
    # Measure over whole ticks: from just after one tick to just after the `ticks`-th next.
    await asyncio.sleep(0.5)  # every guest has its snapshot: the first read is behind us
    next_tick = (await relay.feed(guests[0], 0)).next_tick_at / 1000
    await asyncio.sleep(max(0.0, next_tick - time.time()) + 0.2)
    reads_before, polls_before = relay.reads(chapter), polls
    await asyncio.sleep(sizes.ticks * (relay.tick_s or 1))
    reads, ticks = relay.reads(chapter) - reads_before, sizes.ticks
    polls -= polls_before
    stop.set()
    await asyncio.gather(*tasks)
    await relay.close()
    await logs.close()
    say(f"reads: {sizes.guests} guests, {polls} polls, {reads} owner reads in {ticks} ticks")
    return {
        "owner_reads_per_tick_100_guests": round(reads / ticks, 2),
        "proxied_polls": polls,
        "proxied_owner_reads": reads,
        "proxied_ticks": ticks,
    }
