"""Copy shares over real logs: a copy re-issues the original's in-scope events up to a rev, its
blobs come along, every copied event checks against the original, and later changes on either
side do not cross. A failed import leaves nothing in the guest's book."""

from __future__ import annotations

import msgspec
import pytest

import rust_core
from engine.blobs import LocalBlobStore
from engine.books import Books
from engine.copies import (
    CopyRejected,
    build_manifest,
    import_copy,
    verify_copy_chapter,
)
from engine.errors import BlobCorrupt
from engine.log import Logs
from engine.rules import Invalid, NotFound
from events import (
    Body,
    ChapterForked,
    ChapterRenamed,
    ChunkRef,
    Citation,
    MessagePosted,
    ShareGranted,
    SourceAdded,
    SourceEdited,
    SourceExtracted,
    SourceRejected,
    SourceRemoved,
    SourceRetagged,
    ThreadStarted,
    decode,
    new_id,
)
from events.blobs import blobs_of_all
from events.copies import decode_manifest, encode_manifest, verify_copy
from projections.audit import ChapterSnapshot, chapter_at_rev


@pytest.fixture
async def logs(shared_nc):
    async with Logs(shared_nc) as logs:
        yield logs


@pytest.fixture
async def books(logs):
    books = Books(logs)
    await books.start()
    yield books
    await books.stop()


@pytest.fixture
def owner_blobs(tmp_path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "owner-blobs")


@pytest.fixture
def guest_blobs(tmp_path) -> LocalBlobStore:
    """The guest's server's own store: blobs reach it only through `fetch_blob`."""
    return LocalBlobStore(tmp_path / "guest-blobs")


class Fetcher:
    """The guest's way to the owner's blobs (over HTTP across servers), counting its calls."""

    def __init__(self, store: LocalBlobStore, *, streamed: bool = False) -> None:
        self.store, self.streamed, self.fetched = store, streamed, []

    def __call__(self, digest: str):
        self.fetched.append(digest)
        return self.store.iter(digest, chunk_size=7) if self.streamed else self.store.get(digest)


async def _original(books: Books, logs: Logs, blobs: LocalBlobStore) -> tuple[str, list[Body]]:
    """A chapter with sources (extracted, rejected, edited, retagged, removed), a thread and
    events no copy takes (a rename, a share grant)."""
    book = await books.create_book("ann", "ann@example.org", "Ann's lab")
    chapter = (await books.create_chapter("ann", book.id, "Owls")).id
    put = blobs.put
    old, new = "Owls hoot at night.", "Owls hoot at night, mostly."
    chunks = [ChunkRef(hash=rust_core.hash(old.encode()).hex(), start=0, end=len(old))]
    chunks_blob = await put(msgspec.msgpack.encode(chunks))
    bodies: list[tuple[str, Body]] = [
        ("ann", SourceAdded(source="s1", name="owls.txt", media_type="text/plain",
                            blob=await put(b"owls"), size=4, assets=[await put(b"owl.png")])),
        ("ann", SourceAdded(source="s2", name="bats.pdf", media_type="application/pdf",
                            blob=await put(b"bats"), size=4)),
        ("ann", SourceAdded(source="s3", name="gone.txt", media_type="text/plain",
                            blob=await put(b"gone"), size=4)),
        ("proc:ingest", SourceExtracted(source="s1", text_blob=await put(old.encode()),
                                        extractor="text", extractor_version="1",
                                        chunks_blob=chunks_blob, chunk_count=1)),
        ("proc:ingest", SourceRejected(source="s2", code="corrupt", message="broken PDF")),
        ("ann", ChapterRenamed(title="Owls and bats")),
        ("ann", SourceEdited(source="s1", base_text=rust_core.hash(old.encode()).hex(),
                             patch=rust_core.diff(old, new), new_text=await put(new.encode()))),
        ("ann", SourceRetagged(source="s1", tags=["birds", "night"])),
        ("ann", ShareGranted(share="sh1", mode="copy", grantee="bob@example.org")),
        ("ann", SourceRemoved(source="s3")),
        ("ann", ThreadStarted(thread="t1", title="Why hoot?")),
        ("ann", MessagePosted(thread="t1", message="m1", role="user", text="Why do owls hoot?")),
        ("proc:chat", MessagePosted(thread="t1", message="m2", role="assistant", text="To talk.",
                                    citations=[Citation(source="s1", chunk=chunks[0].hash,
                                                        start=0, end=5)])),
    ]  # fmt: skip
    log = logs.chapter(chapter)
    await log.append_many([b for _, b in bodies], actor=[a for a, _ in bodies])
    return chapter, [b for _, b in bodies]


async def _guest_book(books: Books) -> str:
    return (await books.create_book("bob", "bob@example.org", "Bob's reading")).id


def _comparable(snapshot: ChapterSnapshot, revs: dict[int, int]) -> dict:
    """A snapshot's sources, threads and messages with revs mapped by `revs` (copy rev →
    original rev), without the chapter's own identity or times (a copy's events are stamped
    when copied; the original's times stay in the manifest's payloads)."""

    def mapped(items: list, *fields: str) -> list:
        return [
            msgspec.structs.replace(
                x, **{f: revs.get(getattr(x, f), getattr(x, f)) for f in fields}
            )
            for x in items
        ]

    return {
        "sources": mapped(snapshot.sources, "rev"),
        "threads": [
            msgspec.structs.replace(t, created_at=0, last_at=0)
            for t in mapped(snapshot.threads, "created_rev")
        ],
        "messages": [msgspec.structs.replace(m, at=0) for m in mapped(snapshot.messages, "rev")],
    }


@pytest.mark.parametrize("scope", [["sources", "notes", "threads"], ["sources", "notes"]])
async def test_a_copy_verifies_and_holds_the_original_at_its_rev(
    books, logs, owner_blobs, guest_blobs, scope
):
    chapter, _ = await _original(books, logs, owner_blobs)
    original = logs.chapter(chapter)
    head = await original.head()

    # The owner's server takes the snapshot; the guest's server imports it from its bytes.
    manifest = await build_manifest(original, upto=head.rev, scope=scope)
    assert manifest.from_rev == head.rev and manifest.from_head == head.hex
    data = encode_manifest(manifest)
    guest_book = await _guest_book(books)
    fetch = Fetcher(owner_blobs, streamed=True)
    copy = await import_copy(
        books, logs, guest_blobs, actor="bob", book=guest_book, title="Owls (Ann's)",
        share="sh1", manifest=data, fetch_blob=fetch,
    )  # fmt: skip

    # It is in Bob's book, marked shared, and starts with the fork naming the manifest.
    entry = (await books.state(guest_book)).chapters[copy]
    assert entry.share == "sh1" and entry.assignee == "bob" and entry.title == "Owls (Ann's)"
    first = (await logs.chapter(copy).get(1)).envelope.body
    assert isinstance(first, ChapterForked)
    assert (first.from_chapter, first.from_rev, first.from_head) == (chapter, head.rev, head.hex)
    assert first.from_root == manifest.from_root and await guest_blobs.get(first.manifest) == data

    # Every copied event checks against the original.
    report = await verify_copy_chapter(logs, guest_blobs, copy)
    assert report.ok, report.reason
    assert report.checked == len(manifest.events) == (11 if "threads" in scope else 8)

    # Its catalogue is the original's at from_rev (revs mapped, the title its own); each event
    # keeps its original actor.
    revs = {i + 2: e.rev for i, e in enumerate(manifest.events)}
    mine = await chapter_at_rev(logs.chapter(copy), 1 + len(manifest.events))
    theirs = await chapter_at_rev(original, head.rev)
    expected = _comparable(theirs, {})
    if "threads" not in scope:
        expected |= {"threads": [], "messages": []}
    assert _comparable(mine, revs) == expected
    assert mine.title == "Owls (Ann's)" and mine.shares == [] and theirs.shares != []
    actors = [decode(e.payload).actor for e in manifest.events]
    copied = [e.envelope.actor async for e in logs.chapter(copy).read(after=1)]
    assert copied == actors and "proc:ingest" in actors

    # Every blob its events name came across, each fetched once (the edit's base text is the
    # extracted text).
    wanted = blobs_of_all(decode(e.payload).body for e in manifest.events)
    assert len(wanted) == 7 and sorted(fetch.fetched) == sorted(wanted)
    for digest in wanted:
        assert await guest_blobs.get(digest) == await owner_blobs.get(digest)


async def test_a_copy_at_an_earlier_rev_and_later_changes_do_not_cross(
    books, logs, owner_blobs, guest_blobs
):
    chapter, _ = await _original(books, logs, owner_blobs)
    original = logs.chapter(chapter)
    # Taken at rev 5: the first three sources added and s1 extracted.
    manifest = await build_manifest(original, upto=5, scope=["sources"])
    assert [e.rev for e in manifest.events] == [2, 3, 4, 5]
    guest_book = await _guest_book(books)
    copy = await import_copy(
        books, logs, guest_blobs, actor="bob", book=guest_book, title="Early owls",
        share="sh1", manifest=manifest, fetch_blob=Fetcher(owner_blobs),
    )  # fmt: skip
    copy_head = await logs.chapter(copy).head()
    assert copy_head.rev == 5

    # The owner keeps working; the guest works on the copy. Neither reaches the other.
    await original.append(SourceRemoved(source="s1"), actor="ann")
    await logs.chapter(copy).append(SourceRetagged(source="s2", tags=["mine"]), actor="bob")
    assert (await logs.chapter(copy).head()).rev == 6
    theirs = await chapter_at_rev(original, (await original.head()).rev)
    mine = await chapter_at_rev(logs.chapter(copy), 6)
    assert {s.id: s.status for s in theirs.sources}["s1"] == "removed"
    assert {s.id: s.status for s in mine.sources} == {
        "s1": "extracted", "s2": "pending", "s3": "pending"
    }  # fmt: skip
    assert "mine" not in {t for s in theirs.sources for t in s.tags}
    # The copy still verifies: the guest's own later events are not the original's.
    assert (await verify_copy_chapter(logs, guest_blobs, copy)).ok


async def test_the_same_servers_store_is_not_fetched_from(books, logs, owner_blobs):
    chapter, _ = await _original(books, logs, owner_blobs)
    original = logs.chapter(chapter)
    manifest = await build_manifest(original, upto=(await original.head()).rev, scope=["sources"])
    fetch = Fetcher(owner_blobs)
    await import_copy(
        books, logs, owner_blobs, actor="bob", book=await _guest_book(books), title="Owls",
        share="sh1", manifest=manifest, fetch_blob=fetch,
    )  # fmt: skip
    assert fetch.fetched == []


async def test_a_copy_of_2000_events_imports_and_verifies(books, logs, owner_blobs, guest_blobs):
    book = await books.create_book("ann", "ann@example.org", "Big")
    chapter = (await books.create_chapter("ann", book.id, "Many")).id
    blob = await owner_blobs.put(b"the same bytes")
    bodies: list[Body] = []
    for i in range(1000):
        bodies.append(SourceAdded(source=f"s{i}", name=f"{i}.txt", media_type="text/plain",
                                  blob=blob, size=14))  # fmt: skip
        bodies.append(SourceRetagged(source=f"s{i}", tags=[f"t{i % 7}"]))
    actors = ["ann", "proc:tagger"] * 1000
    await logs.chapter(chapter).append_many(bodies, actor=actors)
    manifest = await build_manifest(logs.chapter(chapter), upto=2001, scope=["sources"])
    assert len(manifest.events) == 2000
    copy = await import_copy(
        books, logs, guest_blobs, actor="bob", book=await _guest_book(books), title="Many",
        share="sh1", manifest=encode_manifest(manifest), fetch_blob=Fetcher(owner_blobs),
    )  # fmt: skip
    assert (await logs.chapter(copy).head()).rev == 2001
    report = await verify_copy_chapter(logs, guest_blobs, copy)
    assert report.ok and report.checked == 2000


async def test_a_tampered_manifest_is_rejected_and_nothing_is_written(
    books, logs, owner_blobs, guest_blobs
):
    chapter, _ = await _original(books, logs, owner_blobs)
    original = logs.chapter(chapter)
    manifest = await build_manifest(original, upto=(await original.head()).rev, scope=["sources"])
    events = list(manifest.events)
    payload = events[1].payload.replace(b"bats.pdf", b"cats.pdf")
    events[1] = type(events[1])(events[1].rev, payload)
    forged = msgspec.structs.replace(manifest, events=events)
    guest_book = await _guest_book(books)
    fetch = Fetcher(owner_blobs)
    with pytest.raises(CopyRejected, match="original rev 3"):
        await import_copy(
            books, logs, guest_blobs, actor="bob", book=guest_book, title="Owls",
            share="sh1", manifest=forged, fetch_blob=fetch,
        )  # fmt: skip
    with pytest.raises(CopyRejected):
        await import_copy(
            books, logs, guest_blobs, actor="bob", book=guest_book, title="Owls",
            share="sh1", manifest=b"\x91\x01", fetch_blob=fetch,
        )  # fmt: skip
    assert (await books.state(guest_book, fresh=True)).chapters == {}
    assert fetch.fetched == []


async def test_a_copy_whose_stored_manifest_is_no_manifest_fails_verification(
    books, logs, guest_blobs
):
    """Verifying reports a stored manifest that does not decode as a fault of the copy's rev 1
    (an audit answers "does not verify"), rather than raising as an import refuses one."""
    guest_book = await _guest_book(books)
    junk = await guest_blobs.put(b"\x91\x01")
    first = ChapterForked(
        book=guest_book, title="Owls", from_chapter=new_id(), from_rev=1, from_head="00" * 32,
        share="sh1", from_root="00" * 32, manifest=junk,
    )  # fmt: skip
    copy = await books.start_chapter(guest_book, first, actor="bob")
    report = await verify_copy_chapter(logs, guest_blobs, copy)
    assert not report.ok and report.checked == 0
    assert report.reason is not None and "not a copy manifest" in report.reason


async def test_a_failed_blob_copy_leaves_nothing_in_the_book(books, logs, owner_blobs, guest_blobs):
    chapter, _ = await _original(books, logs, owner_blobs)
    original = logs.chapter(chapter)
    manifest = await build_manifest(original, upto=(await original.head()).rev, scope=["sources"])
    guest_book = await _guest_book(books)

    async def corrupt(digest: str) -> bytes:
        return b"not what was asked for"

    with pytest.raises(BlobCorrupt):
        await import_copy(
            books, logs, guest_blobs, actor="bob", book=guest_book, title="Owls",
            share="sh1", manifest=manifest, fetch_blob=corrupt,
        )  # fmt: skip
    assert not await guest_blobs.exists(rust_core.hash(b"not what was asked for").hex())

    async def corrupt_stream(digest: str):
        yield b"not what "
        yield b"was asked for"

    with pytest.raises(BlobCorrupt):
        await import_copy(
            books, logs, guest_blobs, actor="bob", book=guest_book, title="Owls",
            share="sh1", manifest=manifest, fetch_blob=corrupt_stream,
        )  # fmt: skip
    assert (await books.state(guest_book, fresh=True)).chapters == {}
    # Someone outside the book cannot import into it.
    with pytest.raises(NotFound):
        await import_copy(
            books, logs, guest_blobs, actor="eve", book=guest_book, title="Owls",
            share="sh1", manifest=manifest, fetch_blob=Fetcher(owner_blobs),
        )  # fmt: skip


async def test_a_manifest_is_taken_only_up_to_the_head(books, logs, owner_blobs):
    chapter, _ = await _original(books, logs, owner_blobs)
    original = logs.chapter(chapter)
    head = (await original.head()).rev
    with pytest.raises(Invalid):
        await build_manifest(original, upto=head + 1, scope=["sources"])
    with pytest.raises(Invalid):
        await build_manifest(original, upto=0, scope=["sources"])
    # A manifest read back from its bytes checks out on its own.
    manifest = await build_manifest(original, upto=head, scope=["threads"])
    assert [decode(e.payload).body.__class__.__name__ for e in manifest.events] == [
        "ThreadStarted", "MessagePosted", "MessagePosted"
    ]  # fmt: skip
    assert decode_manifest(encode_manifest(manifest)) == manifest
    assert not verify_copy(manifest, []).ok


async def test_a_bulk_append_keeps_one_actor_per_event(logs):
    log = logs.chapter(new_id())
    await log.create()
    bodies = [SourceRemoved(source=f"s{i}") for i in range(3)]
    with pytest.raises(ValueError, match="2 actors for 3 events"):
        await log.append_many(bodies, actor=["ann", "bob"])
    assert (await log.head()).rev == 0
    stored = await log.append_many(bodies, actor=["ann", "proc:ingest", "bob"])
    assert [decode(e.payload).actor for e in stored] == ["ann", "proc:ingest", "bob"]
