"""The Obsidian vault connector against a real folder of notes and a real chapter log."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.blobs import LocalBlobStore
from engine.connectors.obsidian import ObsidianVault, VaultError, note_tags, parse_note
from engine.connectors.sync import held_items, known_blobs, sync
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
from tests.connectors.zotero_support import pdf_bytes

CONNECTOR = "c-vault"

PAPER = """---
title: Rivers of Copper
aliases: [Copper rivers]
authors: ["Smith, Ada", "Jones, Ben"]
date: 2020-03-01
doi: 10.1000/river
tags: [metallurgy, "#reading"]
---
# Copper

Ore travels in #rivers. See [[Meadow]] and `#notatag`.

```
#incode
```
"""


class Vault:
    """A vault on disk the tests write notes into, with mtimes they move forward."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True)
        (root / ".obsidian").mkdir()
        (root / ".obsidian" / "app.md").write_text("settings, not a note")
        (root / ".trash").mkdir()
        (root / ".trash" / "Old.md").write_text("binned")
        self._clock = 1_700_000_000

    def write(self, ref: str, content: str | bytes) -> Path:
        path = self.root / ref
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        self._clock += 10  # each write is later than the last, whatever the clock's grain
        os.utime(path, (self._clock, self._clock))
        return path


@pytest.fixture
def vault(tmp_path: Path) -> Vault:
    return Vault(tmp_path / "Vault")


async def run(vault: Vault, log: Log, blobs: LocalBlobStore, cursor: str | None = None):
    """One sync as the CLI or server does it: the held blobs tell the lister what is known."""
    known = known_blobs(await held_items(log, blobs, CONNECTOR))
    head = (await log.head()).rev
    report = await sync(ObsidianVault(vault.root).with_known(known), log, blobs,
                        connector_id=CONNECTOR, actor="u-1", cursor=cursor)  # fmt: skip
    return report, await opened(log, blobs, head)


def test_front_matter_and_inline_tags_outside_code_are_read():
    tags, meta = parse_note(PAPER)
    assert tags == ["metallurgy", "reading", "rivers"]
    assert meta == SourceMeta(title="Rivers of Copper", authors=["Smith, Ada", "Jones, Ben"],
                              year=2020, doi="10.1000/river")  # fmt: skip
    assert meta.cite() == "Smith and Jones (2020)"
    # An alias titles a note without a title; a one-author string keeps its comma.
    _, alias = parse_note("---\naliases: [Cu]\nauthor: Smith, Ada\n---\nbody")
    assert (alias.title, alias.authors) == ("Cu", ["Smith, Ada"])
    # Numbers, URL fragments and headings are no tags; space-separated front-matter tags are.
    assert note_tags("#2024 http://x.org/#frag # Heading #y2024 #a/b-c") == ["y2024", "a/b-c"]
    assert parse_note("---\ntags: one two\n---\n")[0] == ["one", "two"]
    # Broken YAML, or YAML of impossible values, is left as text, not an error.
    assert parse_note("---\ntags: [unclosed\n---\n#x")[0] == ["x"]
    assert parse_note("---\ndate: 2020-13-45\n---\n#x") == (["x"], SourceMeta())
    assert parse_note("---\n" + "[" * 5000 + "\n---\n#x")[0] == ["x"]


async def test_a_vault_syncs_then_edits_moves_and_deletions_follow(vault, log, blobs):
    vault.write("Papers/Copper.md", PAPER)
    vault.write("Meadow.md", "Meadow signals, linked from [[Copper]]. ![[smith.pdf]]")
    vault.write("Papers/smith.pdf", pdf_bytes("copper rivers carry ore"))
    vault.write("Papers/figure.png", b"\x89PNG\r\n\x1a\n")  # nothing extracts an image: skipped
    report, bodies = await run(vault, log, blobs)
    added = {b.ref: b for b in bodies if isinstance(b, SourceAdded)}
    # .obsidian/ and .trash/ ignored
    assert set(added) == {"Papers/Copper.md", "Meadow.md", "Papers/smith.pdf"}
    pdf = added["Papers/smith.pdf"]
    assert (pdf.media_type, pdf.tags) == (
        "application/pdf",
        ["collection:/Papers", "type:attachment"],
    )
    copper = added["Papers/Copper.md"]
    assert copper.origin == "obsidian" and copper.connector == CONNECTOR
    assert copper.name == "Copper.md" and copper.media_type == "text/markdown"
    assert copper.tags == sorted(["collection:/Papers", "metallurgy", "reading", "rivers",
                                  "type:note"])  # fmt: skip
    assert copper.meta is not None and copper.meta.cite() == "Smith and Jones (2020)"
    assert (await blobs.get(copper.blob)) == PAPER.encode()  # wiki-links kept as text
    assert report.added == 3 and report.cursor is not None

    # Nothing changed: nothing is read again, nothing appended.
    again, bodies = await run(vault, log, blobs, report.cursor)
    assert (again.listed, again.appended, bodies) == (0, 0, [])

    # An edit: new bytes, new tags, new metadata.
    vault.write("Papers/Copper.md", PAPER.replace("date: 2020", "date: 2021") + "\n#alloys\n")
    edited, bodies = await run(vault, log, blobs, again.cursor)
    kinds = [type(b) for b in bodies]
    assert kinds == [SourceRevised, SourceRetagged, SourceDescribed]
    assert bodies[0].source == copper.source and "alloys" in bodies[1].tags
    assert bodies[2].meta.year == 2021
    assert (edited.revised, edited.retagged, edited.described) == (1, 1, 1)

    # A move to another folder: the old ref goes, the new one comes with its new collection.
    (vault.root / "Archive").mkdir()
    (vault.root / "Meadow.md").rename(vault.root / "Archive" / "Meadow.md")
    moved, bodies = await run(vault, log, blobs, edited.cursor)
    assert [type(b) for b in bodies] == [SourceAdded, SourceRemoved]
    assert bodies[0].ref == "Archive/Meadow.md" and "collection:/Archive" in bodies[0].tags
    assert bodies[1].source == added["Meadow.md"].source
    assert bodies[0].blob == added["Meadow.md"].blob  # the same bytes, stored once

    # A deletion.
    (vault.root / "Papers" / "Copper.md").unlink()
    _, bodies = await run(vault, log, blobs, moved.cursor)
    assert [(type(b), b.source) for b in bodies] == [(SourceRemoved, copper.source)]
    held = await held_items(log, blobs, CONNECTOR)
    assert {ref for ref, h in held.items() if not h.removed} == {
        "Archive/Meadow.md",
        "Papers/smith.pdf",
    }


async def test_a_note_that_is_not_utf8_is_rejected_and_the_rest_land(vault, log, blobs):
    vault.write("Good.md", "fine #ok")
    vault.write("Latin.md", "caf\xe9 cr\xe8me".encode("latin-1"))
    report, bodies = await run(vault, log, blobs)
    added = {b.ref: b for b in bodies if isinstance(b, SourceAdded)}
    assert set(added) == {"Good.md", "Latin.md"}
    rejected = [b for b in bodies if isinstance(b, SourceRejected)]
    assert [r.source for r in rejected] == [added["Latin.md"].source]
    assert "not UTF-8" in rejected[0].message and "byte 3" in rejected[0].message
    assert report.added == 1 and report.rejected == 1
    assert [e.ref for e in report.errors] == ["Latin.md"]


async def test_a_missing_vault_stops_the_sync_with_a_clear_error(tmp_path, log, blobs):
    with pytest.raises(VaultError, match="is not a folder"):
        await sync(ObsidianVault(tmp_path / "nowhere"), log, blobs, connector_id=CONNECTOR,
                   actor="u-1", cursor=None)  # fmt: skip
