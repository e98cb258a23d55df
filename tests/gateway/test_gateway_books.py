"""Books, members and chapters over HTTP, against the real services (nats-server, SQLite, Chroma).

Who may do what is the isolation matrix's job (test_gateway_isolation.py); these tests follow
the flows: a solo user's first chapter, invitations, leaving, hand-over, policy, bad input.
"""

from __future__ import annotations

from gateway_support import assert_error
from isolation_support import PASSWORD, Person, sign_up_person


async def _team(client, *members: str) -> tuple[Person, str, list[Person]]:
    """An owner, a fresh book of theirs, and signed-up members added to it by e-mail."""
    owner = await sign_up_person(client, "owner@example.org", "Olive")
    made = await client.post("/v1/books", json={"name": "Team"}, headers=owner.headers)
    assert made.status_code == 201, made.text
    book = made.json()["id"]
    people = []
    for name in members:
        person = await sign_up_person(client, f"{name}@example.org", name.title())
        added = await client.post(
            f"/v1/books/{book}/members", json={"email": person.email}, headers=owner.headers
        )
        assert added.status_code == 201, added.text
        people.append(person)
    return owner, book, people


async def _new_chapter(client, person: Person, book: str, title: str, **extra) -> dict:
    created = await client.post(
        f"/v1/books/{book}/chapters", json={"title": title, **extra}, headers=person.headers
    )
    assert created.status_code == 201, created.text
    return created.json()


async def test_a_solo_user_gets_a_book_of_one_and_fills_it(client):
    ada = await sign_up_person(client, "ada@example.org", "Ada")
    # Signing up made a book: the solo user never has to.
    books = (await client.get("/v1/books", headers=ada.headers)).json()["books"]
    assert len(books) == 1
    book = books[0]
    assert book["name"] == "Ada's book"
    assert book | {"id": None} == {
        "id": None,
        "name": "Ada's book",
        "role": "owner",
        "owner": ada.id,
        "external_sharing": True,
        "chapters": 0,
        "members": 1,
        "plan": "free",
    }
    chapter = await _new_chapter(client, ada, book["id"], "  Reading list ")
    assert chapter["title"] == "Reading list" and chapter["assignee"] == ada.id
    assert chapter["book"] == book["id"]
    assert chapter["rev"] == 1 and chapter["sources"] == 0  # ChapterCreated is rev 1

    read = await client.get(f"/v1/chapters/{chapter['id']}", headers=ada.headers)
    assert read.status_code == 200
    assert read.json() == chapter
    listed = await client.get(f"/v1/books/{book['id']}/chapters", headers=ada.headers)
    assert [c["id"] for c in listed.json()["chapters"]] == [chapter["id"]]
    again = await client.get(f"/v1/books/{book['id']}", headers=ada.headers)
    assert again.json()["chapters"] == 1


async def test_a_user_without_a_name_gets_a_book_named_after_their_address(client):
    bo = await sign_up_person(client, "bo@example.org")
    books = (await client.get("/v1/books", headers=bo.headers)).json()["books"]
    assert [b["name"] for b in books] == ["bo@example.org's book"]


async def test_books_are_listed_by_name_with_the_callers_role(client):
    owner, book, (bob,) = await _team(client, "bob")
    listed = (await client.get("/v1/books", headers=bob.headers)).json()["books"]
    assert [(b["name"], b["role"]) for b in listed] == [("Bob's book", "owner"), ("Team", "member")]
    team = next(b for b in listed if b["id"] == book)
    assert team["owner"] == owner.id and team["members"] == 2


async def test_adding_someone_with_an_account_makes_them_a_member_at_once(client):
    owner, book, _ = await _team(client)
    bob = await sign_up_person(client, "bob@example.org", "Bob")
    added = await client.post(
        f"/v1/books/{book}/members",
        json={"email": " BOB@example.org ", "role": "admin"},
        headers=owner.headers,
    )
    assert added.status_code == 201
    assert added.json() == {
        "user": bob.id,
        "email": "bob@example.org",
        "role": "admin",
        "pending": False,
        "invited": False,
        "email_sent": False,
    }
    seen = await client.get(f"/v1/books/{book}", headers=bob.headers)
    assert seen.status_code == 200 and seen.json()["role"] == "admin"


async def test_an_invitation_by_email_waits_and_is_claimed_at_sign_up(client):
    owner, book, _ = await _team(client)
    invited = await client.post(
        f"/v1/books/{book}/members", json={"email": "carol@example.org"}, headers=owner.headers
    )
    assert invited.status_code == 201
    # A pending member's key is opaque: it is chained in the book log, where an address could
    # never be erased (docs/log-format.md, "Erasure").
    key = invited.json()["user"]
    assert key.startswith("email:") and "carol" not in key
    assert invited.json() == {
        "user": key,
        "email": "carol@example.org",
        "role": "member",
        "pending": True,
        "invited": True,
        "email_sent": False,  # the server sends no e-mail; the response says so
    }
    members = (await client.get(f"/v1/books/{book}/members", headers=owner.headers)).json()
    assert members["members"] == [
        {"user": owner.id, "email": owner.email, "role": "owner", "pending": False},
        {"user": key, "email": "carol@example.org", "role": "member", "pending": True},
    ]  # fmt: skip

    carol = await sign_up_person(client, "carol@example.org", "Carol")
    # Invited, so not solo: her only book is the one she was invited to.
    books = (await client.get("/v1/books", headers=carol.headers)).json()["books"]
    assert [(b["id"], b["role"]) for b in books] == [(book, "member")]
    members = (await client.get(f"/v1/books/{book}/members", headers=owner.headers)).json()
    assert {"user": carol.id, "email": carol.email, "role": "member", "pending": False} in (
        members["members"]
    )
    assert not any(m["pending"] for m in members["members"])


async def test_an_invitation_is_claimed_on_the_first_request_of_an_account_made_elsewhere(
    client, services
):
    owner, book, _ = await _team(client)
    invited = await client.post(
        f"/v1/books/{book}/members", json={"email": "dan@example.org"}, headers=owner.headers
    )
    assert invited.json()["pending"] is True
    # An account made without the sign-up route (an operator's script), then its first request.
    dan = await services.accounts.create_user("dan@example.org", PASSWORD, "Dan")
    token, _ = await services.accounts.issue_token(dan.id)
    seen = await client.get(f"/v1/books/{book}", headers={"Authorization": f"Bearer {token}"})
    assert seen.status_code == 200
    assert seen.json()["role"] == "member"


async def test_withdrawing_an_invitation(client):
    owner, book, _ = await _team(client)
    await client.post(
        f"/v1/books/{book}/members", json={"email": "eve@example.org"}, headers=owner.headers
    )
    withdrawn = await client.delete(
        f"/v1/books/{book}/members/email:eve@example.org", headers=owner.headers
    )
    assert withdrawn.status_code == 204
    eve = await sign_up_person(client, "eve@example.org", "Eve")
    assert_error(await client.get(f"/v1/books/{book}", headers=eve.headers), 404, "not_found")


async def test_adding_a_member_twice_is_409_and_a_second_owner_403(client):
    owner, book, (bob,) = await _team(client, "bob")
    again = await client.post(
        f"/v1/books/{book}/members", json={"email": bob.email}, headers=owner.headers
    )
    assert "already a member" in assert_error(again, 409, "conflict")["message"]
    second = await client.post(
        f"/v1/books/{book}/members",
        json={"email": "x@example.org", "role": "owner"},
        headers=owner.headers,
    )
    assert "transfer ownership" in assert_error(second, 403, "forbidden")["message"]


async def test_members_see_their_own_chapters_and_admins_see_all(client):
    owner, book, (admin, bob, cid) = await _team(client, "admin", "bob", "cid")
    await client.patch(
        f"/v1/books/{book}/members/{admin.id}", json={"role": "admin"}, headers=owner.headers
    )
    bobs = await _new_chapter(client, bob, book, "Bob's")
    cids = await _new_chapter(client, cid, book, "Cid's")
    owners = await _new_chapter(client, owner, book, "Olive's")

    async def titles(person: Person) -> set[str]:
        listed = await client.get(f"/v1/books/{book}/chapters", headers=person.headers)
        assert listed.status_code == 200
        return {c["title"] for c in listed.json()["chapters"]}

    assert await titles(bob) == {"Bob's"}
    assert await titles(cid) == {"Cid's"}
    assert await titles(owner) == await titles(admin) == {"Bob's", "Cid's", "Olive's"}
    book_as_bob = (await client.get(f"/v1/books/{book}", headers=bob.headers)).json()
    assert book_as_bob["chapters"] == 1
    # Someone else's chapter does not exist for a member.
    for other in (cids, owners):
        hidden = await client.get(f"/v1/chapters/{other['id']}", headers=bob.headers)
        assert_error(hidden, 404, "not_found")
    assert (
        await client.get(f"/v1/chapters/{bobs['id']}", headers=admin.headers)
    ).status_code == 200


async def test_assigning_a_new_chapter_to_someone_else_is_for_admins(client):
    owner, book, (bob,) = await _team(client, "bob")
    stranger = await sign_up_person(client, "stranger@example.org")
    refused = await client.post(
        f"/v1/books/{book}/chapters",
        json={"title": "For Olive", "assignee": owner.id},
        headers=bob.headers,
    )
    assert_error(refused, 403, "forbidden")
    given = await _new_chapter(client, owner, book, "For Bob", assignee=bob.id)
    assert given["assignee"] == bob.id
    seen = await client.get(f"/v1/chapters/{given['id']}", headers=bob.headers)
    assert seen.status_code == 200
    outsider = await client.post(
        f"/v1/books/{book}/chapters",
        json={"title": "For a stranger", "assignee": stranger.id},
        headers=owner.headers,
    )
    assert "members" in assert_error(outsider, 409, "conflict")["message"]


async def test_rename_by_the_assignee_and_reassign_by_admins(client):
    owner, book, (bob, cid) = await _team(client, "bob", "cid")
    chapter = await _new_chapter(client, bob, book, "Draft")
    url = f"/v1/chapters/{chapter['id']}"

    renamed = await client.patch(url, json={"title": "Final"}, headers=bob.headers)
    assert renamed.status_code == 200
    assert renamed.json()["title"] == "Final" and renamed.json()["rev"] == 2
    assert (await client.get(url, headers=bob.headers)).json()["title"] == "Final"
    listed = await client.get(f"/v1/books/{book}/chapters", headers=owner.headers)
    assert [c["title"] for c in listed.json()["chapters"]] == ["Final"]

    # A member may not give their chapter away; a refused request changes nothing.
    refused = await client.patch(
        url, json={"title": "Cid's now", "assignee": cid.id}, headers=bob.headers
    )
    assert_error(refused, 403, "forbidden")
    assert (await client.get(url, headers=bob.headers)).json()["title"] == "Final"

    moved = await client.patch(url, json={"assignee": cid.id}, headers=owner.headers)
    assert moved.status_code == 200 and moved.json()["assignee"] == cid.id
    assert_error(await client.get(url, headers=bob.headers), 404, "not_found")
    assert (await client.get(url, headers=cid.headers)).json()["assignee"] == cid.id


async def test_deleting_a_chapter(client):
    owner, book, (bob,) = await _team(client, "bob")
    chapter = await _new_chapter(client, bob, book, "Scratch")
    url = f"/v1/chapters/{chapter['id']}"
    deleted = await client.delete(url, headers=bob.headers)
    assert deleted.status_code == 204 and deleted.content == b""
    assert_error(await client.get(url, headers=bob.headers), 404, "not_found")
    assert_error(await client.get(url, headers=owner.headers), 404, "not_found")
    listed = await client.get(f"/v1/books/{book}/chapters", headers=owner.headers)
    assert listed.json()["chapters"] == []


async def test_removing_a_member_hands_their_chapters_to_the_owner(client):
    owner, book, (bob,) = await _team(client, "bob")
    first = await _new_chapter(client, bob, book, "One")
    second = await _new_chapter(client, bob, book, "Two")
    removed = await client.delete(f"/v1/books/{book}/members/{bob.id}", headers=owner.headers)
    assert removed.status_code == 204
    for chapter in (first, second):
        url = f"/v1/chapters/{chapter['id']}"
        assert (await client.get(url, headers=owner.headers)).json()["assignee"] == owner.id
        assert_error(await client.get(url, headers=bob.headers), 404, "not_found")
    assert_error(await client.get(f"/v1/books/{book}", headers=bob.headers), 404, "not_found")
    books = (await client.get("/v1/books", headers=bob.headers)).json()["books"]
    assert book not in {b["id"] for b in books}


async def test_a_member_may_leave_but_the_owner_may_not(client):
    owner, book, (bob, cid) = await _team(client, "bob", "cid")
    chapter = await _new_chapter(client, bob, book, "Bob's")
    # A member cannot remove another; they can remove themselves.
    other = await client.delete(f"/v1/books/{book}/members/{cid.id}", headers=bob.headers)
    assert_error(other, 403, "forbidden")
    left = await client.delete(f"/v1/books/{book}/members/{bob.id}", headers=bob.headers)
    assert left.status_code == 204
    moved = await client.get(f"/v1/chapters/{chapter['id']}", headers=owner.headers)
    assert moved.json()["assignee"] == owner.id
    stays = await client.delete(f"/v1/books/{book}/members/{owner.id}", headers=owner.headers)
    assert "transfer ownership" in assert_error(stays, 409, "conflict")["message"]
    unknown = await client.delete(f"/v1/books/{book}/members/nobody", headers=owner.headers)
    assert_error(unknown, 404, "not_found")


async def test_ownership_transfer(client):
    owner, book, (bob, cid) = await _team(client, "bob", "cid")
    promoted = await client.patch(
        f"/v1/books/{book}/members/{cid.id}", json={"role": "admin"}, headers=owner.headers
    )
    assert promoted.status_code == 200 and promoted.json()["role"] == "admin"
    # An admin may manage members but not hand over the book.
    grab = await client.patch(
        f"/v1/books/{book}/members/{cid.id}", json={"role": "owner"}, headers=cid.headers
    )
    assert "only the owner" in assert_error(grab, 403, "forbidden")["message"]

    handed = await client.patch(
        f"/v1/books/{book}/members/{bob.id}", json={"role": "owner"}, headers=owner.headers
    )
    assert handed.status_code == 200
    assert handed.json() == {"user": bob.id, "email": bob.email, "role": "owner", "pending": False}
    as_bob = (await client.get(f"/v1/books/{book}", headers=bob.headers)).json()
    assert as_bob["owner"] == bob.id and as_bob["role"] == "owner"
    as_old = (await client.get(f"/v1/books/{book}", headers=owner.headers)).json()
    assert as_old["role"] == "admin"  # the old owner stays, as an admin
    # The old owner may now leave; the new one may not.
    assert_error(
        await client.delete(f"/v1/books/{book}/members/{bob.id}", headers=bob.headers),
        409,
        "conflict",
    )
    left = await client.delete(f"/v1/books/{book}/members/{owner.id}", headers=owner.headers)
    assert left.status_code == 204


async def test_admins_change_the_sharing_policy(client):
    owner, book, (admin, bob) = await _team(client, "admin", "bob")
    await client.patch(
        f"/v1/books/{book}/members/{admin.id}", json={"role": "admin"}, headers=owner.headers
    )
    off = await client.patch(
        f"/v1/books/{book}", json={"external_sharing": False}, headers=admin.headers
    )
    assert off.status_code == 200 and off.json()["external_sharing"] is False
    seen = await client.get(f"/v1/books/{book}", headers=bob.headers)
    assert seen.json()["external_sharing"] is False
    refused = await client.patch(
        f"/v1/books/{book}", json={"external_sharing": True}, headers=bob.headers
    )
    assert_error(refused, 403, "forbidden")
    on = await client.patch(
        f"/v1/books/{book}", json={"external_sharing": True}, headers=owner.headers
    )
    assert on.json()["external_sharing"] is True
    # An empty change is still an admin's: a member gets 403, an admin the book as it is.
    assert_error(
        await client.patch(f"/v1/books/{book}", json={}, headers=bob.headers), 403, "forbidden"
    )
    same = await client.patch(f"/v1/books/{book}", json={}, headers=owner.headers)
    assert same.status_code == 200 and same.json()["external_sharing"] is True


async def test_bad_input_is_422_with_a_clear_message(client):
    owner, book, (bob,) = await _team(client, "bob")
    chapter = await _new_chapter(client, bob, book, "Kept")
    h = owner.headers
    cases = [
        ("POST", "/v1/books", {}, "validation_error", "name"),
        ("POST", "/v1/books", {"name": ""}, "validation_error", "name"),
        ("POST", "/v1/books", {"name": "x", "colour": "red"}, "validation_error", "colour"),
        ("POST", "/v1/books", {"name": "   "}, "invalid_argument", "name"),
        ("PATCH", f"/v1/books/{book}", {"external_sharing": "sometimes"}, "validation_error",
         "external_sharing"),
        ("POST", f"/v1/books/{book}/members", {"email": "not an address"}, "invalid_email",
         "not an address"),
        ("POST", f"/v1/books/{book}/members", {"email": "x@example.org", "role": "king"},
         "validation_error", "role"),
        ("PATCH", f"/v1/books/{book}/members/{bob.id}", {}, "validation_error", "role"),
        ("POST", f"/v1/books/{book}/chapters", {"title": 5}, "validation_error", "title"),
        ("PATCH", f"/v1/chapters/{chapter['id']}", {"title": ""}, "validation_error", "title"),
        ("PATCH", f"/v1/chapters/{chapter['id']}", {"title": "  "}, "invalid_argument", "title"),
    ]  # fmt: skip
    for method, url, body, code, mentioned in cases:
        response = await client.request(method, url, json=body, headers=h)
        error = assert_error(response, 422, code)
        assert mentioned in error["message"], (method, url, body, error)
    # Nothing was changed by any of them.
    kept = await client.get(f"/v1/chapters/{chapter['id']}", headers=h)
    assert kept.json()["title"] == "Kept" and kept.json()["rev"] == 1


async def test_unknown_and_foreign_books_are_the_same_404(client):
    _, book, _ = await _team(client)
    stranger = await sign_up_person(client, "stranger@example.org")
    foreign = await client.get(f"/v1/books/{book}", headers=stranger.headers)
    unknown = await client.get("/v1/books/01aaaaaaaaaaaaaaaaaaaaaaaa", headers=stranger.headers)
    malformed = await client.get("/v1/books/not.an.id", headers=stranger.headers)
    errors = [assert_error(r, 404, "not_found") for r in (foreign, unknown, malformed)]
    assert errors[0] == errors[1] == errors[2]
    # Commands on a foreign book are 404 too, not 403: its existence stays private.
    invite = await client.post(
        f"/v1/books/{book}/members", json={"email": "x@example.org"}, headers=stranger.headers
    )
    assert assert_error(invite, 404, "not_found") == errors[0]
