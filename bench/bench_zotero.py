"""Benchmark of the Zotero connector (issue 13): a library of 1,000 items with PDFs synced into
a chapter, then synced again with nothing changed (which must append nothing), then with ten
items retagged (which must append ten events).

    uv run python bench/bench_zotero.py            # the figures (a few minutes)
    uv run python bench/bench_zotero.py --quick    # tiny sizes: checks that the script works

Two paths, each on real parts (an embedded nats-server, a local blob store):

- `engine`: `engine.connectors.sync` over the data directory reader (a checked copy of
  `zotero.sqlite`), straight into the chapter's log: the connector's own cost;
- `api`: what `ragstack sync CHAPTER --zotero-dir DIR` does (client/local_library.py), through the
  HTTP API of the whole system in this process (app over httpx's ASGI transport; the runner folds,
  extracts and embeds in the background meanwhile, as it would on a server).

The Zotero directory is built by the tests' own builder (tests/connectors/zotero_support.py), a
schema of our own. Progress goes to stderr; the last line of stdout is one JSON object.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from app.services import open_services
from app.settings import load_settings
from bench.common import bench_parser, done, embedded_nats, finished, full_and_quick, machine, say
from client.aio import AsyncClient
from client.local_library import sync_zotero_dir
from engine.blobs import LocalBlobStore
from engine.connectors.sync import held_items, known_blobs, sync
from engine.connectors.zotero_local import ZoteroLocal
from engine.log import Log
from events import new_id
from gateway.app import create_app
from projections.providers.local_embedder import LocalEmbedder
from tests.accounts_support import fast_passwords
from tests.connectors.zotero_support import ZoteroDir
from tests.projections.formats.corpus import make_pdf

WORDS = ["copper", "river", "harbour", "granite", "lantern", "meadow", "signal", "orchard", "ledger", "quarry", "beacon", "thistle", "compass", "saddle", "willow", "ember", "falcon", "tundra", "glacier", "pebble", "lattice", "cobalt"]  # fmt: skip


@dataclass(frozen=True)
class Sizes:
    items: int
    pages: int
    edits: int


FULL, QUICK = full_and_quick(Sizes, items=(1000, 20), pages=(3, 1), edits=(10, 3))


def build_library(root: Path, sizes: Sizes, seed: int = 13) -> tuple[ZoteroDir, list[int]]:
    """`sizes.items` papers, each with authors, a date, a DOI, tags, a collection and a PDF."""
    rng = random.Random(seed)
    zdir = ZoteroDir(root)
    collections = [zdir.collection(f"Topic {n}") for n in range(10)]
    papers = []
    zdir.db.execute("BEGIN")
    for n in range(sizes.items):
        paper = zdir.add_paper(
            title=f"On {rng.choice(WORDS)} and {rng.choice(WORDS)} {n}",
            authors=[("Ada", f"Author{n}"), ("Ben", f"Second{n % 97}")],
            date=str(1980 + n % 45),
            doi=f"10.5555/bench.{n}",
            tags=[rng.choice(WORDS)],
            collections=[collections[n % len(collections)]],
        )
        pages = [
            [" ".join(rng.choices(WORDS, k=12)) for _ in range(30)] for _ in range(sizes.pages)
        ]
        zdir.attach(paper, f"paper-{n}.pdf", make_pdf(pages))
        papers.append(paper)
    zdir.db.execute("COMMIT")
    return zdir, papers


async def engine_path(nc: Any, root: Path, sizes: Sizes) -> dict[str, Any]:
    zdir, papers = build_library(root / "Zotero-engine", sizes)
    log = Log(nc, new_id())
    await log.create()
    blobs = LocalBlobStore(root / "blobs")
    figures: dict[str, Any] = {}
    cursor = None
    for label in ("first", "second", "edited"):
        if label == "edited":
            for paper in papers[: sizes.edits]:
                zdir.tag(paper, "revisited")
        held = await held_items(log, blobs, "bench")
        known = known_blobs(held)
        t0 = time.perf_counter()
        report = await sync(ZoteroLocal(zdir.root).with_known(known), log, blobs,
                            connector_id="bench", actor="u-bench", cursor=cursor)  # fmt: skip
        seconds = time.perf_counter() - t0
        cursor = report.cursor
        figures[f"engine_{label}_sync_s"] = round(seconds, 2)
        figures[f"engine_{label}_events"] = report.appended
        say(f"engine {label} sync: {report.appended} events in {seconds:.2f} s")
    figures["engine_items_per_s"] = round(sizes.items / figures["engine_first_sync_s"], 1)
    zdir.close()
    return figures


async def api_path(root: Path, sizes: Sizes) -> dict[str, Any]:
    zdir, papers = build_library(root / "Zotero-api", sizes)
    settings = load_settings(environ={}, data_dir=str(root / "data"), llm={"kind": "extractive"},
                             connectors={"sync_interval_s": 0})  # fmt: skip
    passwords = fast_passwords()
    services = await open_services(settings, passwords=passwords, embedder=LocalEmbedder())
    figures: dict[str, Any] = {}
    try:
        transport = httpx.ASGITransport(create_app(services))
        async with AsyncClient("http://ragstack.bench", transport=transport) as client:
            await client.signup("bench@example.org", "correct horse battery", "Bench")
            book = await client.create_book("Bench")
            chapter = (await client.create_chapter(book.id, "Zotero")).id
            connector = await client.create_connector(chapter, kind="zotero_dir")
            for label in ("first", "second", "edited"):
                if label == "edited":
                    for paper in papers[: sizes.edits]:
                        zdir.tag(paper, "revisited")
                head = (await services.logs.chapter(chapter).head()).rev
                t0 = time.perf_counter()
                connector, report = await sync_zotero_dir(client, chapter, connector, zdir.root)
                seconds = time.perf_counter() - t0
                # Only the connector's events: ingest appends its own results meanwhile.
                events = len([
                    r async for r in services.logs.chapter(chapter).read(after=head)
                    if not r.envelope.actor.startswith("proc:")
                ])  # fmt: skip
                figures[f"api_{label}_sync_s"] = round(seconds, 2)
                figures[f"api_{label}_events"] = events
                say(f"api {label} sync: {events} events in {seconds:.2f} s"
                    f" ({report.appended if report else 0} reported)")  # fmt: skip
    finally:
        await services.close()
        passwords.close()
        zdir.close()
    figures["api_items_per_s"] = round(sizes.items / figures["api_first_sync_s"], 1)
    return figures


def targets(f: dict[str, Any], sizes: Sizes) -> dict[str, bool]:
    return {
        "engine_first_events=items": f["engine_first_events"] == sizes.items,
        "engine_second_events=0": f["engine_second_events"] == 0,
        "engine_edited_events=edits": f["engine_edited_events"] == sizes.edits,
        "api_first_events=items": f["api_first_events"] == sizes.items,
        "api_second_events=0": f["api_second_events"] == 0,
        "api_edited_events=edits": f["api_edited_events"] == sizes.edits,
    }


async def run(sizes: Sizes, *, quick: bool) -> dict[str, Any]:
    figures: dict[str, Any] = {"bench": "zotero", "quick": quick, "machine_start": machine()}
    with tempfile.TemporaryDirectory(prefix="ragstack-bench-zotero-") as tmp:
        async with embedded_nats() as (_server, nc):
            figures |= await engine_path(nc, Path(tmp), sizes)
        figures |= await api_path(Path(tmp), sizes)
    return finished(figures, sizes, targets(figures, sizes))


def main(argv: Sequence[str] | None = None) -> None:
    args = bench_parser(__doc__).parse_args(None if argv is None else list(argv))
    sizes = QUICK if args.quick else FULL
    done(asyncio.run(run(sizes, quick=args.quick)))


if __name__ == "__main__":
    main()
