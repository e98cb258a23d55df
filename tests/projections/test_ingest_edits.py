"""Edits of paged documents: the edit is re-chunked with the original's pages carried through it,
so only the chunks around the edit are re-embedded and citations keep their pages."""

import random

from engine.sources import add_source, edit_source
from projections.formats import Section
from projections.ingest import ChunkSizes, carry_sections, chunk_manifest, sections_of
from tests.projections.formats.corpus import make_pdf
from tests.projections.pipeline_support import new_chapter, settle

WORDS = [
    "river", "stone", "lantern", "harvest", "meadow", "copper", "signal", "orchard", "harbour",
    "ledger", "quarry", "beacon", "thistle", "granite", "compass", "saddle", "willow", "ember",
]  # fmt: skip


def paged_text(pages: int, lines: int = 10) -> tuple[str, list[Section]]:
    text, sections = "", []
    for page in range(1, pages + 1):
        sections.append(Section(start=len(text), page=page))
        text += "".join(f"page {page} line {i}: some words here.\n" for i in range(lines))
        text += "\n"
    return text, sections


def starts_of(text: str, sections: list[Section]) -> list[tuple[int | None, str]]:
    return [(s.page, text[s.start : s.start + 14]) for s in sections]


def test_sections_after_a_single_edit_stay_on_their_lines():
    old, sections = paged_text(8)
    new = old.replace("page 4 line 5: some words here.", "An editor rewrote this line entirely.")
    carried = carry_sections(old, new, sections)
    assert starts_of(new, carried) == starts_of(old, sections)


def test_sections_follow_scattered_edits_insertions_and_deletions():
    old, sections = paged_text(8)
    new = (
        "A new opening line.\n"
        + old.replace("page 3 line 0: some words here.\n", "")  # the line page 3 began with
        .replace("page 5 line 2", "page five, line two")
        .replace("page 8 line 9: some words here.", "The very end, rewritten.")
    )
    carried = carry_sections(old, new, sections)
    assert [s.page for s in carried] == list(range(1, 9))
    assert carried[0].start == 0  # the new opening belongs to page 1
    assert new[carried[2].start :].startswith("page 3 line 1")  # where the deleted line was
    for page in (2, 4, 5, 6, 7, 8):
        assert new[carried[page - 1].start :].startswith(f"page {page} line 0"), page


def test_sections_are_read_back_from_a_manifest():
    text, sections = paged_text(6, lines=30)
    manifest = chunk_manifest(text, sections, ChunkSizes())
    assert sections_of(manifest) == sections
    assert sections_of([]) == []


async def test_editing_one_paragraph_of_a_long_pdf_reembeds_at_most_three_chunks(worker, books):
    rng = random.Random(5)
    pages = [
        [f"Page {p} line {i}: " + " ".join(rng.choice(WORDS) for _ in range(9)) for i in range(36)]
        for p in range(1, 41)
    ]
    chapter = await new_chapter(books)
    added = await add_source(
        worker.logs.chapter(chapter),
        worker.blobs,
        actor="u-owner",
        name="report.pdf",
        data=make_pdf(pages),
    )
    await settle(worker, chapter)
    before = await worker.catalogue.source(chapter, added.source)
    assert before is not None and before.status == "extracted" and before.chunks > 40

    # Rewrite one line (a paragraph of this PDF) on page 20.
    text = (await worker.blobs.get(before.text_blob)).decode()
    old_line = pages[19][17]
    assert old_line in text
    embedded = worker.embedder.embedded
    await edit_source(
        worker.logs.chapter(chapter),
        worker.blobs,
        actor="u-owner",
        source=added.source,
        base_text=before.text_blob,
        new_text=text.replace(old_line, "The auditor rewrote this paragraph on a rainy Tuesday."),
    )
    await settle(worker, chapter)
    assert 1 <= worker.embedder.embedded - embedded <= 3

    # Every chunk still names the page its text is on (each line starts "Page N").
    after = await worker.catalogue.source(chapter, added.source)
    new_text = (await worker.blobs.get(after.text_blob)).decode()
    records = [m async for _, m in worker.index.ids(chapter)]
    assert len(records) == after.chunks
    for m in records:
        piece = new_text[int(m["start"]) : int(m["end"])]
        labels = {int(w.split()[1]) for w in piece.splitlines() if w.startswith("Page ")}
        assert labels <= {m["page"]}, (m["page"], labels)
    [edited] = [m for m in records if "rainy Tuesday" in new_text[int(m["start"]) : int(m["end"])]]
    assert edited["page"] == 20
