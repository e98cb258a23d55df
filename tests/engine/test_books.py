"""Book and chapter commands over a real log: roles, invitations, concurrency."""

import asyncio

import pytest

from engine.books import INVITE_PREFIX, Books
from engine.log import Logs
from engine.rules import Conflict, Forbidden, Invalid, NotFound


@pytest.fixture
async def books(shared_nc):
    async with Logs(shared_nc) as logs:
        books = Books(logs)
        await books.start()
        yield books
        await books.stop()


async def test_the_creator_owns_the_book_and_sees_every_chapter(books):
    book = await books.create_book("ann", "ann@example.org", "Lab")
    await books.add_member("ann", book.id, "bob@example.org", "member", "bob")
    mine = await books.create_chapter("ann", book.id, "Ann's notes")
    bobs = await books.create_chapter("ann", book.id, "Bob's notes", assignee="bob")
    state = await books.state(book.id)
    assert state.owner == "ann" and state.role_of("ann") == "owner"
    assert {c.id for c in state.visible_chapters("ann")} == {mine.id, bobs.id}
    # A member sees only their own chapter; someone else's does not exist for them.
    assert [c.id for c in state.visible_chapters("bob")] == [bobs.id]
    await books.chapter_access("bob", bobs.id, "write")
    with pytest.raises(NotFound):
        await books.chapter_access("bob", mine.id, "read")
    with pytest.raises(NotFound):
        await books.chapter_access("stranger", bobs.id, "read")


async def test_members_cannot_manage_the_book(books):
    book = await books.create_book("ann", "ann@example.org", "Lab")
    await books.add_member("ann", book.id, "bob@example.org", "member", "bob")
    with pytest.raises(Forbidden):
        await books.add_member("bob", book.id, "eve@example.org", "member", "eve")
    with pytest.raises(Forbidden):
        await books.set_policy("bob", book.id, external_sharing=False)
    with pytest.raises(Forbidden):
        await books.create_chapter("bob", book.id, "For Ann", assignee="ann")
    with pytest.raises(NotFound):
        await books.add_member("eve", book.id, "x@example.org", "member", "x")


async def test_an_invitation_by_email_is_claimed_on_sign_in(books):
    book = await books.create_book("ann", "ann@example.org", "Lab")
    await books.add_member("ann", book.id, "Carol@Example.org", "admin", None)
    pending = [k for k in (await books.state(book.id)).members if k.startswith(INVITE_PREFIX)]
    assert len(pending) == 1 and "carol" not in pending[0]  # the key never holds the address
    mine = await books.books_of("carol-id", "carol@example.org")
    assert [b.id for b in mine] == [book.id]
    state = await books.state(book.id)
    assert state.role_of("carol-id") == "admin"
    assert pending[0] not in state.members


async def test_removing_a_member_hands_their_chapters_to_the_owner(books):
    book = await books.create_book("ann", "ann@example.org", "Lab")
    await books.add_member("ann", book.id, "bob@example.org", "member", "bob")
    chapter = await books.create_chapter("ann", book.id, "Bob's", assignee="bob")
    await books.remove_member("ann", book.id, "bob")
    state = await books.state(book.id)
    assert state.role_of("bob") is None
    assert state.chapters[chapter.id].assignee == "ann"
    with pytest.raises(NotFound):
        await books.chapter_access("bob", chapter.id, "read")
    with pytest.raises(Conflict):
        await books.remove_member("ann", book.id, "ann")  # the owner cannot leave


async def test_ownership_transfer_demotes_the_old_owner(books):
    book = await books.create_book("ann", "ann@example.org", "Lab")
    await books.add_member("ann", book.id, "bob@example.org", "admin", "bob")
    with pytest.raises(Forbidden):
        await books.change_role("bob", book.id, "bob", "owner")
    await books.change_role("ann", book.id, "bob", "owner")
    state = await books.state(book.id)
    assert state.owner == "bob" and state.role_of("ann") == "admin"


async def test_concurrent_invitations_of_one_address_admit_it_once(books):
    book = await books.create_book("ann", "ann@example.org", "Lab")
    await books.add_member("ann", book.id, "adm@example.org", "admin", "adm")
    # Two admins, in two processes' worth of Books objects, invite the same person at once.
    other = Books(books.logs)
    results = await asyncio.gather(
        books.add_member("ann", book.id, "dan@example.org", "member", "dan"),
        other.add_member("adm", book.id, "dan@example.org", "member", "dan"),
        return_exceptions=True,
    )
    assert sum(isinstance(r, Conflict) for r in results) == 1, results
    members = (await books.state(book.id, fresh=True)).members
    assert sum(m.email == "dan@example.org" for m in members.values()) == 1


async def test_another_process_sees_changes_through_the_book_subject(books):
    book = await books.create_book("ann", "ann@example.org", "Lab")
    other = Books(books.logs)
    await other.start()
    try:
        assert (await other.state(book.id)).role_of("bob") is None
        await books.add_member("ann", book.id, "bob@example.org", "member", "bob")
        async with asyncio.timeout(5):
            while (await other.state(book.id)).role_of("bob") is None:
                await asyncio.sleep(0.01)
    finally:
        await other.stop()


async def test_unusable_input_is_invalid(books):
    with pytest.raises(Invalid):
        await books.create_book("ann", "ann@example.org", "   ")
    with pytest.raises(NotFound):
        await books.state("01jzzzzzzzzzzzzzzzzzzzzzzz")


async def test_malformed_ids_are_simply_not_found(books):
    known = set(books._locks)
    for bad in ("a.b", "", "x" * 100, "RS_CH_01", "../etc"):
        with pytest.raises(NotFound):
            await books.chapter_access("ann", bad, "read")
        with pytest.raises(NotFound):
            await books.state(bad)
    with pytest.raises(NotFound):
        await books.state("01jzzzzzzzzzzzzzzzzzzzzzzz")
    assert set(books._locks) == known  # nothing kept for ids that do not exist
