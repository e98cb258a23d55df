"""Chapter archives over a real log, blob store and accounts store: an export verifies offline,
imports as a new chapter whose copied facts verify against it, and a bad archive (truncated, a
blob missing, a payload flipped, a signature forged) is refused naming what is wrong, with nothing
imported."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.archive import ArchiveRejected, export_chapter, import_archive
from engine.blobs import LocalBlobStore
from engine.copies import verify_copy_chapter
from engine.keys import BookKeys
from events import (
    ChapterForked,
    ChapterRenamed,
    MessagePosted,
    SourceAdded,
    SourceExtracted,
    ThreadStarted,
)
from events.archive import (
    BLOBS_DIR,
)
from events.archive_check import verify_archive_file
from tests.audit.archive_tamper import agreeing, flip_event, members, rewrite


@pytest.fixture
def blobs(tmp_path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


async def _chapter(keys: BookKeys, blobs: LocalBlobStore) -> tuple[str, str]:
    """A chapter with a source, its extraction, a thread, signed heads and a key rotation."""
    book = await keys.books.create_book("ann", "ann@example.org", "Lab")
    chapter = (await keys.books.create_chapter("ann", book.id, "Owls")).id
    log = keys.logs.chapter(chapter)
    text = await blobs.put(b"Owls hunt at night.")
    await log.append_many(
        [
            SourceAdded(source="s1", name="owls.txt", media_type="text/plain",
                        blob=await blobs.put(b"owls!"), size=5),
            SourceExtracted(source="s1", text_blob=text, extractor="text", extractor_version="1"),
            ThreadStarted(thread="t1", title="Q"),
            MessagePosted(thread="t1", message="m1", role="user", text="When do owls hunt?"),
        ],
        actor="ann",
    )  # fmt: skip
    await keys.sign_head("ann", chapter)
    await keys.rotate("ann", book.id)
    await log.append(ChapterRenamed(title="Owls at night"), actor="ann")
    await keys.sign_head("ann", chapter)
    return book.id, chapter


async def _export(keys: BookKeys, blobs: LocalBlobStore, chapter: str, path: Path) -> Path:
    export = await export_chapter(keys, blobs, chapter)
    with path.open("wb") as out:
        async for chunk in export.chunks():
            out.write(chunk)
    return path


async def test_an_export_verifies_offline_and_imports_as_a_verifiable_copy(keys, blobs, tmp_path):
    _, chapter = await _chapter(keys, blobs)
    path = await _export(keys, blobs, chapter, tmp_path / "owls.tar")
    # Offline: files, chain, head and root, both signatures (one per key), blobs.
    report = verify_archive_file(path)
    assert report.ok, report.reason
    assert (report.events, report.signed, report.blobs) == (8, 2, 2)
    head = await keys.logs.chapter(chapter).head()
    assert (report.head_rev, report.head) == (head.rev, head.hex)
    # Import into another book: a new chapter, forked from the archive's head, facts re-issued.
    other = await keys.books.create_book("bob", "bob@example.org", "Bob's")
    copy = await import_archive(keys, blobs, actor="bob", book=other.id, path=path)
    assert copy != chapter
    events = [e.envelope async for e in keys.logs.chapter(copy).read()]
    first = events[0].body
    assert isinstance(first, ChapterForked) and first.share is None
    # The archive ends with a signed head of its last change: the copy is taken at the rev it
    # signs, and every imported fact is proved against that signed root by the archived keys.
    signed = (await keys.logs.chapter(chapter).get(head.rev - 1)).hash.hex()
    assert (first.from_chapter, first.from_rev, first.from_head) == (chapter, head.rev - 1, signed)
    assert first.title == "Owls at night"
    assert [type(e.body).__name__ for e in events[1:]] == [
        "SourceAdded", "SourceExtracted", "ThreadStarted", "MessagePosted",
    ]  # fmt: skip
    proved = await verify_copy_chapter(keys.logs, blobs, copy, require_signed=True)
    assert proved.ok and proved.signed, proved.reason
    assert copy in (await keys.books.state(other.id)).chapters


async def test_a_tampered_archive_names_the_rev_and_imports_nothing(keys, blobs, tmp_path):
    _, chapter = await _chapter(keys, blobs)
    path = await _export(keys, blobs, chapter, tmp_path / "owls.tar")
    # A payload flipped at rev 3, with the manifest's file hash made to agree: the chain names it.
    bad = flip_event(path, 3, tmp_path / "flipped.tar")
    report = verify_archive_file(bad)
    assert not report.ok and report.first_bad_rev == 3, report
    other = await keys.books.create_book("bob", "bob@example.org", "Bob's")
    with pytest.raises(ArchiveRejected, match="rev 3"):
        await import_archive(keys, blobs, actor="bob", book=other.id, path=bad)
    assert (await keys.books.state(other.id)).chapters == {}


async def test_a_truncated_archive_or_a_missing_blob_is_refused(keys, blobs, tmp_path):
    _, chapter = await _chapter(keys, blobs)
    path = await _export(keys, blobs, chapter, tmp_path / "owls.tar")
    other = await keys.books.create_book("bob", "bob@example.org", "Bob's")
    # Cut short in the middle of the events.
    data = path.read_bytes()
    (cut := tmp_path / "cut.tar").write_bytes(data[: len(data) // 3])
    report = verify_archive_file(cut)
    assert not report.ok and report.reason
    with pytest.raises(ArchiveRejected):
        await import_archive(keys, blobs, actor="bob", book=other.id, path=cut)
    # A blob left out (and out of the manifest too): the events still name it.
    files = members(path)
    blob = next(n for n in files if n.startswith(BLOBS_DIR))
    lacking = rewrite(tmp_path / "lacking.tar", agreeing(files, blob, None))
    report = verify_archive_file(lacking)
    assert not report.ok and blob[len(BLOBS_DIR) :] in (report.reason or "")
    with pytest.raises(ArchiveRejected, match="missing"):
        await import_archive(keys, blobs, actor="bob", book=other.id, path=lacking)
    assert (await keys.books.state(other.id)).chapters == {}
