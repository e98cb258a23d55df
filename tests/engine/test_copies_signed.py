"""Copies proved against the original's signed root, over real logs, blobs and accounts: the
snapshot signs the head when it is a change (and reuses a signature that is the head), a faithful
copy verifies on the server, and a manifest re-signed by another key or a copy whose event was
altered is refused or fails verification, naming the rev."""

from __future__ import annotations

import msgspec
import pytest

from engine.blobs import LocalBlobStore
from engine.copies import (
    CopyRejected,
    import_copy,
    signed_manifest,
    verify_chapter,
    verify_copy_chapter,
)
from engine.keys import BookKeys
from engine.verify import book_key_history
from events import ChapterForked, HeadSigned, SourceAdded, SourceRetagged, decode, encode
from events.archive_check import verify_archive_file
from events.copies import CopyManifest, encode_manifest, manifest_hash
from events.heads import sign_head
from events.keys import BookKey, new_private_key, public_key_of
from tests.engine.test_archive import _export


@pytest.fixture
def blobs(tmp_path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


async def _original(keys: BookKeys, blobs: LocalBlobStore) -> str:
    book = await keys.books.create_book("ann", "ann@example.org", "Lab")
    chapter = (await keys.books.create_chapter("ann", book.id, "Owls")).id
    added = [
        SourceAdded(source=f"s{i}", name=f"{i}.txt", media_type="text/plain",
                    blob=await blobs.put(f"owls {i}".encode()), size=6)
        for i in range(5)
    ]  # fmt: skip
    await keys.logs.chapter(chapter).append_many(
        [*added, SourceRetagged(source="s1", tags=["night"])], actor="ann"
    )
    return chapter


async def _guest(keys: BookKeys) -> str:
    return (await keys.books.create_book("bob", "bob@example.org", "Bob's")).id


async def _forged_copy(
    keys: BookKeys, guest: str, manifest: CopyManifest, altered: int, **change: object
) -> str:
    """A copy written by hand, as a tampering server might: the fork names the true manifest,
    but the `altered`-th copied body has `change` applied."""
    first = ChapterForked(
        book=guest, title="Forged", from_chapter=manifest.from_chapter,
        from_rev=manifest.from_rev, from_head=manifest.from_head, from_root=manifest.from_root,
        manifest=manifest_hash(encode_manifest(manifest)),
    )  # fmt: skip
    copy = await keys.books.start_chapter(guest, first, actor="bob")
    bodies = [decode(e.payload).body for e in manifest.events]
    bodies[altered] = msgspec.structs.replace(bodies[altered], **change)
    await keys.logs.chapter(copy).append_many(bodies, actor="bob")
    return copy


async def test_a_copy_is_proved_against_the_signed_head_and_verifies_on_the_server(keys, blobs):
    chapter = await _original(keys, blobs)
    log = keys.logs.chapter(chapter)
    head = await log.head()
    manifest = await signed_manifest(keys, chapter, ["sources"])
    # The head was a change: signed now, and the copy is taken at the rev it signs.
    signed = await log.get(head.rev + 1)
    assert signed is not None and isinstance(signed.envelope.body, HeadSigned)
    assert (manifest.from_rev, manifest.signed_head) == (head.rev, signed.payload)
    assert len(manifest.proofs) == len(manifest.events) == 6
    # Asked again with nothing new: the signature at the head serves, nothing is appended.
    again = await signed_manifest(keys, chapter, ["sources"])
    assert again.signed_head == signed.payload and (await log.head()).rev == head.rev + 1

    history = await keys.history_of_chapter(chapter)
    guest = await _guest(keys)
    copy = await import_copy(
        keys.books, keys.logs, blobs, actor="bob", book=guest, title="Mine", share=None,
        manifest=encode_manifest(manifest), fetch_blob=blobs.get, keys=history,
        require_signed=True,
    )  # fmt: skip
    report = await verify_copy_chapter(keys.logs, blobs, copy, require_signed=True)
    assert report.ok and report.signed and report.signed_by == history.current.key
    own_keys = await book_key_history(keys.logs, guest)
    assert (await verify_chapter(keys.logs, blobs, copy, own_keys)).ok


async def test_a_manifest_signed_by_another_key_is_refused_or_fails_verify(keys, blobs):
    chapter = await _original(keys, blobs)
    manifest = await signed_manifest(keys, chapter, ["sources"])
    # A forger re-signs the (true) root with a key of their own and lists that key instead.
    stranger = new_private_key()
    key = public_key_of(stranger)
    head = decode(manifest.signed_head)
    m = manifest
    body = sign_head(stranger, key, chapter, m.from_rev, m.from_head, m.from_root)
    forged = msgspec.structs.replace(
        manifest,
        signed_head=encode(msgspec.structs.replace(head, body=body)),
        keys=[BookKey(key=key, from_rev=1, from_at=0)],
    )
    history = await keys.history_of_chapter(chapter)
    guest = await _guest(keys)
    imported = dict(
        actor="bob", book=guest, title="Mine", share=None, manifest=encode_manifest(forged),
        fetch_blob=blobs.get, require_signed=True,
    )  # fmt: skip
    with pytest.raises(CopyRejected, match=f"signed head of rev {m.from_rev} is signed by key"):
        await import_copy(keys.books, keys.logs, blobs, keys=history, **imported)
    # Imported from "another server" (trusting the keys it carries), the copy still fails the
    # server's verify: this server holds the original's book, and its keys are not the forger's.
    copy = await import_copy(keys.books, keys.logs, blobs, **imported)
    report = await verify_chapter(keys.logs, blobs, copy, await book_key_history(keys.logs, guest))
    assert not report.ok and report.first_bad_rev == 1
    assert f"the original's rev {m.from_rev}" in report.reason
    assert "not the original book's" in report.reason


async def test_a_copy_whose_event_was_altered_fails_verify_naming_the_rev(keys, blobs):
    chapter = await _original(keys, blobs)
    manifest = await signed_manifest(keys, chapter, ["sources"])
    await blobs.put(encode_manifest(manifest))
    guest = await _guest(keys)
    copy = await _forged_copy(keys, guest, manifest, 2, name="forged.txt")
    report = await verify_chapter(keys.logs, blobs, copy, await book_key_history(keys.logs, guest))
    assert not report.ok and report.first_bad_rev == 4
    assert "the original's rev 4" in report.reason and "differs" in report.reason


async def test_an_archive_of_a_copy_is_checked_against_the_original_offline(keys, blobs, tmp_path):
    """An exported copy carries its manifest: `verify --archive` proves the copy against the
    original's signed root with no server, and names the rev of a copied event that is not the
    original's."""
    chapter = await _original(keys, blobs)
    manifest = await signed_manifest(keys, chapter, ["sources"])
    data = encode_manifest(manifest)
    guest = await _guest(keys)
    faithful = await import_copy(
        keys.books, keys.logs, blobs, actor="bob", book=guest, title="Mine", share=None,
        manifest=data, fetch_blob=blobs.get, require_signed=True,
    )  # fmt: skip
    report = verify_archive_file(await _export(keys, blobs, faithful, tmp_path / "copy.tar"))
    assert report.ok, report.reason

    forged = await _forged_copy(keys, guest, manifest, 4, size=7)
    await keys.books.register_shared("bob", guest, forged, "Forged", share=None)
    report = verify_archive_file(await _export(keys, blobs, forged, tmp_path / "forged.tar"))
    assert not report.ok and report.first_bad_rev == 6
    assert f"the original's rev {manifest.events[4].rev}" in report.reason
