"""Book keys over a real log and accounts store: announced once, kept sealed, rotated by the old
key, and every head they sign verifies; a forged one is named by its rev."""

from __future__ import annotations

import asyncio

import pytest

from engine.keys import SECRET_PREFIX, BookKeys
from engine.rules import Forbidden, NotFound
from engine.verify import verify_log
from events import BookKeyAdded, BookKeyRotated, ChapterRenamed, HeadSigned
from events.heads import sign_head
from events.keys import new_private_key, public_key_of
from rust_core import merkle_root


async def _book_with_chapter(keys: BookKeys) -> tuple[str, str]:
    book = await keys.books.create_book("ann", "ann@example.org", "Lab")
    await keys.books.add_member("ann", book.id, "bob@example.org", "member", "bob")
    await keys.books.add_member("ann", book.id, "cy@example.org", "admin", "cy")
    chapter = await keys.books.create_chapter("ann", book.id, "Notes", assignee="bob")
    return book.id, chapter.id


async def test_a_book_key_is_announced_once_and_kept_sealed(keys, tmp_path):
    book, _ = await _book_with_chapter(keys)
    # Two processes' worth of first needs at once: one key, announced once.
    first, second = await asyncio.gather(keys.ensure(book), keys.ensure(book))
    assert first == second
    events = [e.envelope.body async for e in keys.logs.book(book).read()]
    assert [b for b in events if isinstance(b, BookKeyAdded)] == [BookKeyAdded(key=first.key)]
    # The private half is in the accounts store, sealed: its bytes appear nowhere in the file.
    stored = await keys.accounts.get_secret(f"book:{book}", SECRET_PREFIX + first.key)
    assert stored is not None
    raw = (tmp_path / "accounts.sqlite3").read_bytes()
    assert stored.encode() not in raw


async def test_heads_signed_on_request_verify_and_only_admins_may_ask(keys):
    book, chapter = await _book_with_chapter(keys)
    log = keys.logs.chapter(chapter)
    await log.append_many([ChapterRenamed(title=f"t{i}") for i in range(5)], actor="bob")
    signed = await keys.sign_head("ann", chapter)
    assert signed is not None and signed.rev == 7
    body = signed.envelope.body
    assert isinstance(body, HeadSigned) and body.rev == 6
    hashes = [e.hash async for e in log.read(until=6)]
    assert body.head == hashes[-1].hex() and body.root == merkle_root(hashes).hex()
    # An admin may; the assignee who is only a member may not; a stranger does not see it.
    await log.append(ChapterRenamed(title="more"), actor="bob")
    assert await keys.sign_head("cy", chapter) is not None
    with pytest.raises(Forbidden):
        await keys.sign_head("bob", chapter)
    with pytest.raises(NotFound):
        await keys.sign_head("eve", chapter)
    report = await verify_log(log, keys=await keys.history(book))
    assert report.ok and report.signed == 2 and report.signed_rev == 8


async def test_rotation_is_signed_by_the_old_key_and_old_heads_still_verify(keys):
    book, chapter = await _book_with_chapter(keys)
    log = keys.logs.chapter(chapter)
    old = await keys.ensure(book)
    await keys.sign_head("ann", chapter)
    with pytest.raises(Forbidden):
        await keys.rotate("bob", book)
    new = await keys.rotate("ann", book)
    assert new.key != old.key and new.rotation
    # The old private half is gone: it can sign nothing any more.
    assert await keys.accounts.get_secret(f"book:{book}", SECRET_PREFIX + old.key) is None
    await log.append(ChapterRenamed(title="after"), actor="bob")
    signed = await keys.sign_head("ann", chapter)
    assert signed is not None and signed.envelope.body.key == new.key
    history = await keys.history(book)
    assert [k.key for k in history.keys] == [old.key, new.key]
    assert history.keys[0].to_rev == history.keys[1].from_rev
    report = await verify_log(log, keys=history)
    assert report.ok and report.signed == 2


async def test_a_forged_head_in_the_stored_log_is_named_by_its_rev(keys):
    book, chapter = await _book_with_chapter(keys)
    log = keys.logs.chapter(chapter)
    await keys.sign_head("ann", chapter)  # rev 2
    await log.append(ChapterRenamed(title="x"), actor="bob")  # rev 3
    # Someone with write access to the stream signs with a key of their own.
    thief = new_private_key()
    head = await log.head()
    hashes = [e.hash async for e in log.read()]
    forged = sign_head(thief, public_key_of(thief), chapter, 3, head.hex, merkle_root(hashes).hex())
    await log.append(forged, actor="bob")  # rev 4
    report = await verify_log(log, keys=await keys.history(book))
    assert not report.ok and report.first_bad_rev == 4 and report.signed == 1
    assert "not the book's" in (report.reason or "")
    assert (report.events, report.head_rev) == (3, 3) and report.head_hash == hashes[-1]


async def test_a_rotation_without_the_old_keys_signature_breaks_the_books_keys(keys):
    book, chapter = await _book_with_chapter(keys)
    old = await keys.ensure(book)
    await keys.sign_head("ann", chapter)
    thief = new_private_key()
    new = public_key_of(thief)
    await keys.logs.book(book).append(
        BookKeyRotated(old=old.key, new=new, signature="00" * 64), actor="ann"
    )
    history = await keys.history(book)
    assert history.failed and history.current is None
    report = await verify_log(keys.logs.chapter(chapter), keys=history)
    assert not report.ok and report.bad_book_rev == history.bad_rev
    assert report.first_bad_rev is None and "not signed by the old key" in (report.reason or "")
