"""The Zotero data directory connector against a real `zotero.sqlite` and a real chapter log."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import sys
import textwrap
from asyncio.subprocess import PIPE
from collections import Counter
from pathlib import Path

import pytest

from engine.blobs import LocalBlobStore
from engine.connectors import zotero_local
from engine.connectors.sync import held_items, known_blobs, sync
from engine.connectors.zotero_local import ZoteroDirError, ZoteroLocal
from engine.log import Log
from events import (
    SourceAdded,
    SourceDescribed,
    SourceMeta,
    SourceRejected,
    SourceRemoved,
    SourceRetagged,
    SourceRevised,
)
from tests.connectors.connector_support import opened
from tests.connectors.zotero_support import ZoteroDir, pdf_bytes

CONNECTOR = "c-zotero"


@pytest.fixture
def zdir(tmp_path: Path):
    made = ZoteroDir(tmp_path / "Zotero")
    yield made
    made.close()


async def run(zdir: ZoteroDir, log: Log, blobs: LocalBlobStore, cursor: str | None = None):
    """One sync as the CLI or server does it: the held blobs tell the lister what is known."""
    held = await held_items(log, blobs, CONNECTOR)
    known = known_blobs(held)
    connector = ZoteroLocal(zdir.root).with_known(known)
    head = (await log.head()).rev
    report = await sync(connector, log, blobs, connector_id=CONNECTOR, actor="u-1", cursor=cursor)
    bodies = await opened(log, blobs, head)
    return report, bodies


def library(zdir: ZoteroDir) -> dict[str, int]:
    thesis = zdir.collection("Thesis")
    ch2 = zdir.collection("Ch2", parent=thesis)
    paper = zdir.add_paper(
        title="Rivers of Copper",
        authors=[("Ada", "Smith"), ("Ben", "Jones"), ("Cy", "Brown")],
        date="2020-03-01",
        doi="10.1000/river",
        tags=["metallurgy"],
        collections=[ch2],
    )
    pdf, _ = zdir.attach(paper, "smith2020.pdf", pdf_bytes("copper rivers carry ore"))
    note, _ = zdir.note(paper, "<p>My reading note about copper</p>")
    book = zdir.add_paper(
        title="Meadow Signals", authors=[("", "Orchard Institute")], date="1999",
        type_name="book",
    )  # fmt: skip
    book_pdf, _ = zdir.attach(book, "meadow.pdf", pdf_bytes("meadow signals"))
    return {"paper": paper, "pdf": pdf, "note": note, "book": book, "book_pdf": book_pdf}


async def test_a_library_imports_with_metadata_and_a_second_sync_appends_nothing(zdir, log, blobs):
    library(zdir)
    report, bodies = await run(zdir, log, blobs)
    added = [b for b in bodies if isinstance(b, SourceAdded)]
    assert len(added) == 3 and report.added == 3 and report.appended == 3
    by_name = {b.name: b for b in added}
    pdf = by_name["smith2020.pdf"]
    assert pdf.origin == "zotero" and pdf.connector == CONNECTOR and pdf.ref
    assert pdf.meta == SourceMeta(
        title="Rivers of Copper",
        authors=["Smith, Ada", "Jones, Ben", "Brown, Cy"],
        year=2020,
        doi="10.1000/river",
    )
    assert pdf.meta.cite() == "Smith et al. (2020)"
    assert pdf.tags == ["collection:/Thesis/Ch2", "metallurgy", "type:journalArticle"]
    assert (await blobs.get(pdf.blob)) == pdf_bytes("copper rivers carry ore")
    note = next(b for b in added if b.media_type == "text/html")
    assert note.meta == pdf.meta and "reading note" in (await blobs.get(note.blob)).decode()
    assert by_name["meadow.pdf"].meta.cite() == "Orchard Institute (1999)"
    assert by_name["meadow.pdf"].tags == ["type:book"]

    again, bodies = await run(zdir, log, blobs, cursor=report.cursor)
    assert bodies == [] and again.appended == 0 and again.listed == 3
    assert again.cursor == report.cursor


async def test_changing_an_item_emits_exactly_the_edits(zdir, log, blobs):
    ids = library(zdir)
    first, _ = await run(zdir, log, blobs)
    zdir.replace_file(ids["pdf"], pdf_bytes("copper rivers carry more ore"))
    zdir.set_field(ids["book"], "title", "Meadow Signals, Revised")
    zdir.tag(ids["book"], "ecology")
    report, bodies = await run(zdir, log, blobs, cursor=first.cursor)
    assert Counter(type(b).__name__ for b in bodies) == {
        "SourceRevised": 1,
        "SourceDescribed": 1,
        "SourceRetagged": 1,
    }
    revised = next(b for b in bodies if isinstance(b, SourceRevised))
    assert revised.name == "smith2020.pdf"
    assert await blobs.get(revised.blob) == pdf_bytes("copper rivers carry more ore")
    described = next(b for b in bodies if isinstance(b, SourceDescribed))
    assert described.meta.title == "Meadow Signals, Revised"
    retagged = next(b for b in bodies if isinstance(b, SourceRetagged))
    assert retagged.tags == ["ecology", "type:book"]
    assert (report.revised, report.described, report.retagged) == (1, 1, 1)


async def test_trashing_and_deleting_emit_removals(zdir, log, blobs):
    ids = library(zdir)
    first, _ = await run(zdir, log, blobs)
    held = await held_items(log, blobs, CONNECTOR)
    zdir.trash(ids["paper"])  # the parent in the trash takes its PDF and note with it
    zdir.delete(ids["book_pdf"])
    report, bodies = await run(zdir, log, blobs, cursor=first.cursor)
    assert all(isinstance(b, SourceRemoved) for b in bodies) and len(bodies) == 3
    assert {b.source for b in bodies} == {h.source for h in held.values()}
    assert report.removed == 3
    _, bodies = await run(zdir, log, blobs, cursor=report.cursor)
    assert bodies == []


async def test_a_missing_file_becomes_a_rejected_source_and_the_rest_come_in(zdir, log, blobs):
    ids = library(zdir)
    key = zdir.db.execute("SELECT key FROM items WHERE itemID = ?", (ids["pdf"],)).fetchone()[0]
    (zdir.root / "storage" / key / "smith2020.pdf").unlink()
    report, bodies = await run(zdir, log, blobs)
    rejected = [b for b in bodies if isinstance(b, SourceRejected)]
    assert len(rejected) == 1 and "missing" in rejected[0].message
    assert report.added == 2 and report.rejected == 1
    assert report.errors[0].ref == key
    # The same failure again changes nothing in the log.
    _, bodies = await run(zdir, log, blobs, cursor=report.cursor)
    assert bodies == []


async def test_a_database_held_open_in_exclusive_mode_still_syncs_from_a_copy(zdir, log, blobs):
    library(zdir)
    zdir.close()
    # Another process opens it as Zotero does (exclusive locking, WAL), writes, and holds it.
    script = textwrap.dedent(f"""
        import sqlite3, sys
        db = sqlite3.connect({str(zdir.root / "zotero.sqlite")!r}, isolation_level=None)
        db.execute("PRAGMA locking_mode = EXCLUSIVE")
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("BEGIN IMMEDIATE")
        db.execute("UPDATE itemDataValues SET value = 'Rivers of Copper, 2nd ed.'"
                   " WHERE value = 'Rivers of Copper'")
        db.execute("COMMIT")
        print("holding", flush=True)
        sys.stdin.read()
    """)
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, stdin=PIPE, stdout=PIPE
    )
    try:
        assert holder.stdout is not None
        assert (await holder.stdout.readline()).strip() == b"holding"
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            direct = sqlite3.connect(zdir.root / "zotero.sqlite", timeout=0.1)
            direct.execute("SELECT count(*) FROM items").fetchone()
        report, bodies = await run(zdir, log, blobs)
        assert report.added == 3 and len(bodies) == 3
        # The copy carries what the holder wrote to its WAL and has not checkpointed.
        titles = {b.meta.title for b in bodies if isinstance(b, SourceAdded)}
        assert "Rivers of Copper, 2nd ed." in titles
    finally:
        await holder.communicate(b"")


async def test_a_directory_without_a_database_is_a_clear_error(tmp_path, log, blobs):
    with pytest.raises(ZoteroDirError, match="not a Zotero data directory"):
        await sync(
            ZoteroLocal(tmp_path), log, blobs, connector_id=CONNECTOR, actor="u", cursor=None
        )


async def test_a_torn_copy_is_copied_again(zdir, log, blobs, monkeypatch):
    library(zdir)
    zdir.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    real_copy = shutil.copyfile
    torn: list[str] = []

    def copy_torn_once(src, dst, **kwargs):
        # The first copy of the database stops half-way, as when Zotero writes meanwhile.
        done = real_copy(src, dst, **kwargs)
        if str(src).endswith("zotero.sqlite") and not torn:
            torn.append(str(dst))
            with open(dst, "r+b") as handle:
                handle.truncate(Path(dst).stat().st_size // 2)
        return done

    monkeypatch.setattr(zotero_local.shutil, "copyfile", copy_torn_once)
    report, bodies = await run(zdir, log, blobs)
    assert torn and report.added == 3 and len(bodies) == 3


def test_a_copy_torn_every_time_is_a_clear_error(tmp_path):
    broken = tmp_path / "Zotero"
    broken.mkdir()
    (broken / "zotero.sqlite").write_bytes(b"SQLite format 3\x00" + b"\x13" * 5000)
    with (
        pytest.raises(ZoteroDirError, match="could not be copied whole after 2 tries"),
        zotero_local.snapshot(broken, tries=2),
    ):
        pass
