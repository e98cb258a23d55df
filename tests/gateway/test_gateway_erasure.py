"""Erasure (docs/log-format.md, "Erasure"): a person's words leave every route, the raw log, the
blob store, the views and the vector index; the chain and signatures still verify; other
people's data stays; a source's blobs go unless another chapter names them; a sole owner with
other members is refused; an erasure cut short is completed by running it again."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from chat_support import ANIMALS, open_desk
from gateway_support import assert_error, bearer, sign_up
from sources_support import upload

from app.services import open_services
from app.settings import Settings
from engine.blobs import blob_hash
from engine.books import Books
from engine.copies import verify_copy_chapter
from engine.erasure import Erasure
from engine.log import Log
from engine.verify import book_key_history
from events import (
    BookCreated,
    ContentErased,
    MemberAdded,
    MessagePosted,
    ThreadStarted,
    decode,
    new_id,
)
from events.archive_check import ArchiveReader, verify_archive
from projections.settings import ProviderSettings
from projections.vectors import history_namespace
from tests.audit import stranger_verifier as stranger
from tests.projections.pipeline_support import BACKENDS, in_schema

BOB_Q1 = "Quokkazanzibar in the tundra?"
"""Bob's question in his own chapter (a word nobody else writes)."""
BOB_Q2 = "Tell me about owls and the Xylofernwick rule"
"""Bob's question in Ada's chapter (he is an admin of her book)."""
BOB_DOC = b"# Secret\n\nThe Brumblethorpe protocol is known only to Bob.\n"
ADA_Q = "Where do snowy owls nest?"
BOB_WORDS = [b"Quokkazanzibar", b"Xylofernwick", b"Brumblethorpe", b"bob-secret.md"]


@pytest.fixture
def backend() -> str:
    """Where the views live: "sqlite", or "postgresql" where a test is parametrized so."""
    return "sqlite"


@pytest.fixture
def settings(tmp_path, limits, backend, request) -> Settings:
    # Extractive answers: no LLM server is needed to ask.
    views = in_schema(request.getfixturevalue("pg_schema")) if backend == "postgresql" else None
    return Settings(
        data_dir=tmp_path / "data",
        limits=limits,
        llm=ProviderSettings(kind="extractive"),
        views=views,
    )


async def _no_row_holds(views, words: list[bytes]) -> None:
    tables = await views.fetchall(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
    )
    assert len(tables) > 10
    for (table,) in tables:
        for word in words:
            # A row as text (bytea in hex): the word in plain text or in bytes.
            found = await views.fetchall(
                f"SELECT 1 FROM {table} AS t WHERE strpos(t::text, ?) > 0 "
                "OR strpos(t::text, ?) > 0",
                (word.decode(), word.hex()),
            )
            assert found == [], (table, word)


async def _ask(client, chapter: str, headers: dict, question: str) -> dict:
    thread = await client.post(
        f"/v1/chapters/{chapter}/threads", json={"title": question[:20]}, headers=headers
    )
    assert thread.status_code == 201, thread.text
    answer = await client.post(
        f"/v1/chapters/{chapter}/ask",
        json={"question": question, "thread": thread.json()["id"]},
        headers=headers,
    )
    assert answer.status_code == 200, answer.text
    return {"thread": thread.json()["id"], **answer.json()}


def _files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def _holds(path: Path, words: list[bytes]) -> list[bytes]:
    data = path.read_bytes()
    return [w for w in words if w in data]


async def _raw_payloads(services, chapter: str) -> list[bytes]:
    log = services.logs.chapter(chapter)
    return [e.payload async for e in log.read()]


async def _bob_and_ada(client, services):
    ada = await open_desk(client, services)
    bob_token = await sign_up(client, email="bob@example.org", name="Bob")
    bob = bearer(bob_token)
    bob_id = (await client.get("/v1/me", headers=bob)).json()["id"]
    added = await client.post(
        f"/v1/books/{ada.book}/members",
        json={"email": "bob@example.org", "role": "admin"},
        headers=ada.headers,
    )
    assert added.status_code == 201, added.text
    mine = await client.post(
        f"/v1/books/{ada.book}/chapters", json={"title": "Bob's corner"}, headers=bob
    )
    assert mine.status_code == 201, mine.text
    bob_chapter = mine.json()["id"]
    up = await upload(client, bob_chapter, bob, [("bob-secret.md", BOB_DOC, "text/markdown")])
    assert up.status_code == 201, up.text
    await services.settled(bob_chapter, projections=("catalogue", "vectors"))
    return ada, bob, bob_id, bob_chapter


@pytest.mark.parametrize("backend", BACKENDS)
async def test_erasing_a_person_leaves_no_word_of_theirs_and_the_chain_verifies(
    client, services, backend
):
    assert services.read.views.dialect == backend
    ada, bob, _, bob_chapter = await _bob_and_ada(client, services)
    await _ask(client, bob_chapter, bob, BOB_Q1)
    bob_asked = await _ask(client, ada.chapter, bob, BOB_Q2)
    ada_asked = await _ask(client, ada.chapter, ada.headers, ADA_Q)
    # Before: Bob's words are readable (opened from their personal blobs), never in the chain.
    listed = await client.get(
        f"/v1/chapters/{ada.chapter}/threads/{bob_asked['thread']}/messages", headers=ada.headers
    )
    assert BOB_Q2 in listed.text
    for chapter in (ada.chapter, bob_chapter):
        for payload in await _raw_payloads(services, chapter):
            assert not [w for w in BOB_WORDS if w in payload]
    exported = await client.get("/v1/me/export", headers=bob)
    assert exported.status_code == 200
    assert BOB_Q1 in exported.text and BOB_Q2 in exported.text and "bob-secret.md" in exported.text
    chroma_before = await services.read.index.count(bob_chapter)
    assert chroma_before > 0
    if backend == "postgresql":  # the check after the erasure sees his words before it
        with pytest.raises(AssertionError):
            await _no_row_holds(services.read.views, BOB_WORDS)

    erased = await client.delete("/v1/me", headers=bob)
    assert erased.status_code == 200, erased.text
    body = erased.json()
    assert bob_chapter in body["chapters"] and ada.chapter in body["chapters"]
    assert len(body["books"]) == 1  # his book of one, made at sign-up
    assert body["blobs_deleted"] > 0

    # His account is gone.
    assert (await client.get("/v1/me", headers=bob)).status_code == 401
    # Through every route of Ada's chapter: not a word of his; hers intact.
    routes = [
        f"/v1/chapters/{ada.chapter}/threads",
        f"/v1/chapters/{ada.chapter}/threads/{bob_asked['thread']}/messages",
        f"/v1/chapters/{ada.chapter}/threads/{ada_asked['thread']}/messages",
        f"/v1/chapters/{ada.chapter}/history",
        f"/v1/chapters/{ada.chapter}/state",
        f"/v1/chapters/{ada.chapter}/events",
        f"/v1/chapters/{ada.chapter}/diff?from=0&to={ada_asked['message_rev']}",
        f"/v1/chapters/{ada.chapter}/threads/{bob_asked['thread']}/messages/"
        f"{bob_asked['id']}/provenance",
    ]
    for route in routes:
        got = await client.get(route, headers=ada.headers)
        assert got.status_code in (200, 404), (route, got.text)
        assert "Xylofernwick" not in got.text and "Quokkazanzibar" not in got.text, route
    mine = await client.get(
        f"/v1/chapters/{ada.chapter}/threads/{ada_asked['thread']}/messages", headers=ada.headers
    )
    assert ADA_Q in mine.text
    his = await client.get(
        f"/v1/chapters/{ada.chapter}/threads/{bob_asked['thread']}/messages", headers=ada.headers
    )
    assert "[erased]" in his.text
    found = await client.post(
        f"/v1/chapters/{ada.chapter}/search", json={"query": "snowy owl"}, headers=ada.headers
    )
    assert found.status_code == 200 and "tundra" in found.text
    # Ada's export archive carries no word of his and verifies offline.
    archive = await client.get(f"/v1/chapters/{ada.chapter}/export", headers=ada.headers)
    assert archive.status_code == 200
    assert not [w for w in BOB_WORDS if w in archive.content]
    report = verify_archive(ArchiveReader(io.BytesIO(archive.content)))
    assert report.ok, report.reason
    # And by a stranger's verifier, written from docs/log-format.md alone.
    path = services.settings.data.parent / "ada.tar"
    path.write_bytes(archive.content)
    assert stranger.verify(path).events == report.events
    # Chain and signatures verify in both chapters (his stays in the log, for audit).
    signed = await client.post(f"/v1/chapters/{ada.chapter}/heads", headers=ada.headers)
    assert signed.status_code in (200, 201), signed.text
    verified = await client.get(f"/v1/chapters/{ada.chapter}/verify", headers=ada.headers)
    assert verified.status_code == 200 and verified.json()["ok"] is True, verified.text
    for chapter in (ada.chapter, bob_chapter):
        bad = None
        async for batch in services.logs.chapter(chapter).read_batches(verify=True):
            assert batch  # read_batches raises ChainBroken on a bad rev
        assert bad is None
    # The raw log, the blob store, the views file: nothing of his.
    for chapter in (ada.chapter, bob_chapter):
        for payload in await _raw_payloads(services, chapter):
            assert not [w for w in BOB_WORDS if w in payload]
    data = services.settings.data
    for path in _files_under(data / "blobs"):
        assert not _holds(path, BOB_WORDS), path
    for path in data.glob("views.sqlite3*"):
        assert not _holds(path, BOB_WORDS), path
    if backend == "postgresql":  # nor any row of any table of the views there
        await _no_row_holds(services.read.views, BOB_WORDS)
    # Nor any file of the data directory: accounts, JetStream's store, the caches. Chroma's own
    # SQLite file is the exception: its deleted documents can linger in free pages until Chroma
    # is vacuumed offline (`chroma utils vacuum`); vacuuming it live corrupted it (two SQLite
    # libraries in one process do not see each other's locks). docs/log-format.md says so.
    left = [str(p.relative_to(data)) for p in _files_under(data) if _holds(p, BOB_WORDS)]
    assert [p for p in left if not p.startswith("chroma/")] == []
    # The vector index forgot his chapter (documents deleted, not hidden).
    assert await services.read.index.count(bob_chapter) == 0
    assert await services.read.index.count(history_namespace(bob_chapter)) == 0
    # His chapter left the book; Ada's book and source are intact.
    book = await client.get(f"/v1/books/{ada.book}/chapters", headers=ada.headers)
    assert bob_chapter not in book.text and ada.chapter in book.text
    text = await client.get(
        f"/v1/chapters/{ada.chapter}/sources/{ada.source}/text", headers=ada.headers
    )
    assert text.status_code == 200 and text.text == ANIMALS


async def test_a_sole_owner_with_other_members_is_refused_naming_the_book(client, services):
    ada = await open_desk(client, services)
    await sign_up(client, email="bob@example.org", name="Bob")
    added = await client.post(
        f"/v1/books/{ada.book}/members",
        json={"email": "bob@example.org", "role": "member"},
        headers=ada.headers,
    )
    assert added.status_code == 201, added.text
    refused = await client.delete("/v1/me", headers=ada.headers)
    error = assert_error(refused, 409, "conflict")
    assert "Zoo" in error["message"] and ada.book in error["message"]
    # Nothing was erased.
    assert (await client.get("/v1/me", headers=ada.headers)).status_code == 200
    messages = [p async for p in services.logs.chapter(ada.chapter).read()]
    assert not [e for e in messages if isinstance(decode(e.payload).body, ContentErased)]


@pytest.mark.parametrize("backend", BACKENDS)
async def test_erasing_a_source_keeps_blobs_another_chapter_names(client, services, backend):
    assert services.read.views.dialect == backend
    ada = await open_desk(client, services)
    other = await client.post(
        f"/v1/books/{ada.book}/chapters", json={"title": "Also animals"}, headers=ada.headers
    )
    assert other.status_code == 201
    second = other.json()["id"]
    up = await upload(
        client, second, ada.headers, [("animals.md", ANIMALS.encode(), "text/markdown")]
    )
    assert up.status_code == 201
    twin = up.json()["sources"][0]["id"]
    await services.settled(second, projections=("catalogue", "vectors"))
    added = [decode(p).body for p in await _raw_payloads(services, ada.chapter)]
    blob = next(b.blob for b in added if type(b).__name__ == "SourceAdded")
    index = services.read.index

    async def chunks_of(chapter: str, source: str) -> int:
        return len([1 async for _, m in index.ids(chapter) if m.get("source") == source])

    assert await chunks_of(ada.chapter, ada.source) > 0

    erased = await client.post(
        f"/v1/chapters/{ada.chapter}/sources/{ada.source}/erase", headers=ada.headers
    )
    assert erased.status_code == 200, erased.text
    assert erased.json()["rev"] is not None
    # Its chunks are deleted from Chroma; the bytes stay, the other chapter names them.
    assert await chunks_of(ada.chapter, ada.source) == 0
    assert await chunks_of(second, twin) > 0
    assert await services.blobs.exists(blob)
    gone = await client.get(f"/v1/chapters/{ada.chapter}/sources/{ada.source}", headers=ada.headers)
    assert gone.status_code == 404 or "animals.md" not in gone.text
    found = await client.post(
        f"/v1/chapters/{ada.chapter}/search", json={"query": "snowy owl"}, headers=ada.headers
    )
    assert "tundra" not in found.text
    views = services.read.views
    for table in ("lexical_rows", "vectors_sources"):
        if views.dialect == "postgresql":  # no row of it left in the shared tables
            rows = await views.fetchall(
                f"SELECT 1 FROM {table} WHERE chapter = ? AND source = ?",
                (ada.chapter, ada.source),
            )
            assert rows == [], table
    # Again: nothing new is appended (idempotent).
    again = await client.post(
        f"/v1/chapters/{ada.chapter}/sources/{ada.source}/erase", headers=ada.headers
    )
    assert again.status_code == 200 and again.json()["rev"] is None
    # The twin erased too: now no chapter names the bytes, and they go.
    last = await client.post(f"/v1/chapters/{second}/sources/{twin}/erase", headers=ada.headers)
    assert last.status_code == 200
    assert not await services.blobs.exists(blob)
    # A member who is not an admin may not erase.
    verified = await client.get(f"/v1/chapters/{ada.chapter}/verify", headers=ada.headers)
    assert verified.json()["ok"] is True


async def test_an_erasure_cut_short_by_a_restart_completes_when_run_again(
    settings, passwords, clock, local_embedder, make_client
):
    from gateway.app import create_app

    services = await open_services(
        settings, passwords=passwords, clock=clock, embedder=local_embedder
    )
    try:
        async with make_client(create_app(services)) as client:
            ada, bob, bob_id, bob_chapter = await _bob_and_ada(client, services)
            await _ask(client, ada.chapter, bob, BOB_Q2)
            token = bob["Authorization"].removeprefix("Bearer ")
            # Cut short: his own chapter is erased, then the server stops (no more of it ran).
            part = await Erasure(
                services.logs, services.books, services.blobs, services.accounts
            ).erase_chapter(bob_id, bob_chapter, subject=bob_id)
            assert part.revs[bob_chapter] is not None
    finally:
        await services.close()
    services = await open_services(
        settings, passwords=passwords, clock=clock, embedder=local_embedder
    )
    try:
        async with make_client(create_app(services)) as client:
            again = await client.delete("/v1/me", headers=bearer(token))
            assert again.status_code == 200, again.text
            # His chapter was not erased twice: the re-run appended nothing new there.
            bodies = [decode(p).body for p in await _raw_payloads(services, bob_chapter)]
            assert sum(isinstance(b, ContentErased) for b in bodies) == 1
            assert again.json()["chapters"][bob_chapter] is None
            messages = [decode(p).body for p in await _raw_payloads(services, ada.chapter)]
            assert any(isinstance(b, ContentErased) for b in messages)
            for path in _files_under(settings.data / "blobs"):
                assert not _holds(path, BOB_WORDS), path
            listed = await client.get(f"/v1/chapters/{ada.chapter}/history", headers=ada.headers)
            assert "Xylofernwick" not in listed.text
            verified = await client.get(f"/v1/chapters/{ada.chapter}/verify", headers=ada.headers)
            assert verified.json()["ok"] is True
    finally:
        await services.close()


async def test_old_format_chapters_fold_and_migrate_into_sealed_ones(client, services):
    ada = await open_desk(client, services)
    # Events written before sealing: a writer without a blob store keeps values inline.
    old = Log(services.logs.nc, ada.chapter)
    thread = new_id()
    await old.append(ThreadStarted(thread=thread, title="Inline title"), actor=ada.user)
    await old.append(
        MessagePosted(thread=thread, message=new_id(), role="user", text="Inline Vorpalwug"),
        actor=ada.user,
    )
    await old.close()
    raw = b"".join(await _raw_payloads(services, ada.chapter))
    assert b"Vorpalwug" in raw
    await services.settled(ada.chapter, projections=("chat",))
    listed = await client.get(
        f"/v1/chapters/{ada.chapter}/threads/{thread}/messages", headers=ada.headers
    )
    assert listed.status_code == 200 and "Inline Vorpalwug" in listed.text

    migrated = await client.post(f"/v1/chapters/{ada.chapter}/migrate", headers=ada.headers)
    assert migrated.status_code == 201, migrated.text
    new = migrated.json()["id"]
    assert migrated.json()["title"] == "Animals"
    # The new chapter's chained bytes hold no personal value; its reads show them all.
    raw = b"".join(await _raw_payloads(services, new))
    assert b"Vorpalwug" not in raw and b"animals.md" not in raw
    await services.settled(new, projections=("chat", "catalogue", "vectors"))
    listed = await client.get(f"/v1/chapters/{new}/threads/{thread}/messages", headers=ada.headers)
    assert "Inline Vorpalwug" in listed.text
    sources = await client.get(f"/v1/chapters/{new}/sources", headers=ada.headers)
    assert "animals.md" in sources.text
    # Each re-issued event still ties to the original (its personal blob opens to its values).
    report = await verify_copy_chapter(services.logs, services.blobs, new)
    assert report.ok, report.reason
    found = await client.post(
        f"/v1/chapters/{new}/search", json={"query": "snowy owl"}, headers=ada.headers
    )
    assert "tundra" in found.text


async def test_a_live_mirror_forgets_what_its_owner_erased(client, services):
    olive = await open_desk(client, services, email="olive@example.org")
    grant = {"mode": "direct", "grantee": "gus@example.org", "scope": ["sources", "threads"]}
    made = await client.post(
        f"/v1/chapters/{olive.chapter}/shares", json=grant, headers=olive.headers
    )
    assert made.status_code == 201, made.text
    gus = bearer(await sign_up(client, email="gus@example.org", name="Gus"))
    accepted = await client.post(f"/v1/shares/{made.json()['token']}/accept", json={}, headers=gus)
    assert accepted.status_code == 201, accepted.text
    mirror = accepted.json()["id"]
    secret = b"The Glimmerquatch owl hides in the fjord.\n"
    up = await upload(client, olive.chapter, olive.headers, [("glimmer.txt", secret, "text/plain")])
    assert up.status_code == 201
    source = up.json()["sources"][0]["id"]

    async def mirrored() -> bool:
        got = await client.get(f"/v1/chapters/{mirror}/sources", headers=gus)
        return "glimmer.txt" in got.text and '"extracted"' in got.text

    await _eventually(mirrored)
    erased = await client.post(
        f"/v1/chapters/{olive.chapter}/sources/{source}/erase", headers=olive.headers
    )
    assert erased.status_code == 200, erased.text

    async def forgotten() -> bool:
        bodies = [decode(p).body for p in await _raw_payloads(services, mirror)]
        if not any(isinstance(b, ContentErased) for b in bodies):
            return False
        got = await client.get(f"/v1/chapters/{mirror}/sources", headers=gus)
        return got.status_code == 200 and "glimmer.txt" not in got.text

    await _eventually(forgotten)
    await services.settled(mirror, projections=("eraser", "catalogue", "vectors", "chat"))
    found = await client.post(
        f"/v1/chapters/{mirror}/search", json={"query": "owl in the fjord"}, headers=gus
    )
    assert "Glimmerquatch" not in found.text
    index = services.read.index
    assert not [1 async for _, m in index.ids(mirror) if m.get("source") == source]
    for path in _files_under(services.settings.data / "blobs"):
        assert not _holds(path, [b"Glimmerquatch", b"glimmer.txt"]), path


async def _eventually(check, *, within: float = 30.0) -> None:
    async with asyncio.timeout(within):
        while not await check():
            await asyncio.sleep(0.1)


async def _raw_book_payloads(services, book: str) -> list[bytes]:
    return [e.payload async for e in services.logs.book(book).read(verify=True)]


async def test_erasing_a_person_erases_them_from_every_book_log(client, services):
    ada, bob, bob_id, _ = await _bob_and_ada(client, services)
    # Carol was invited before she had an account: her invitation holds only her address.
    invited = await client.post(
        f"/v1/books/{ada.book}/members",
        json={"email": "carol@example.org", "role": "member"},
        headers=ada.headers,
    )
    assert invited.status_code == 201, invited.text
    his_books = [b["id"] for b in (await client.get("/v1/books", headers=bob)).json()["books"]]
    assert ada.book in his_books and len(his_books) == 2
    personal = [b"bob@example.org", b"Bob's corner", b"carol@example.org", b"Zoo"]
    # Sealed on append: no book log's chained bytes hold an e-mail, a name or a title.
    for book in his_books:
        for payload in await _raw_book_payloads(services, book):
            assert not [w for w in personal if w in payload], payload
    members = await client.get(f"/v1/books/{ada.book}/members", headers=ada.headers)
    assert "bob@example.org" in members.text and "carol@example.org" in members.text

    erased = await client.delete("/v1/me", headers=bob)
    assert erased.status_code == 200, erased.text

    gone = [b"bob@example.org", b"Bob's corner"]
    for book in his_books:
        bodies = [decode(p).body for p in await _raw_book_payloads(services, book)]
        assert [b for b in bodies if isinstance(b, ContentErased)], book
    for path in _files_under(services.settings.data / "blobs"):
        assert not _holds(path, gone), path
    # Every other member's data is intact, in a process that folds the book from scratch too.
    members = await client.get(f"/v1/books/{ada.book}/members", headers=ada.headers)
    assert members.status_code == 200
    assert "ada@example.org" in members.text and "carol@example.org" in members.text
    assert "bob@example.org" not in members.text
    fresh = Books(services.logs)
    state = await fresh.state(ada.book)
    assert state.name == "Zoo" and bob_id not in state.members
    assert {m.email for m in state.members.values()} == {"ada@example.org", "carol@example.org"}
    assert [c.title for c in state.chapters.values()] == ["Animals"]
    # The chain and the signed heads still verify.
    signed = await client.post(f"/v1/chapters/{ada.chapter}/heads", headers=ada.headers)
    assert signed.status_code in (200, 201), signed.text
    verified = await client.get(f"/v1/chapters/{ada.chapter}/verify", headers=ada.headers)
    assert verified.status_code == 200 and verified.json()["ok"] is True, verified.text
    assert (await book_key_history(services.logs, ada.book)) is not None
    # Carol's invitation is still claimed by her address.
    carol = bearer(await sign_up(client, email="carol@example.org", name="Carol"))
    hers = [b["id"] for b in (await client.get("/v1/books", headers=carol)).json()["books"]]
    assert ada.book in hers


async def test_old_format_book_logs_still_fold(client, services):
    ada = await open_desk(client, services)
    # A book written before sealing: values inline, an invitation keyed by its address.
    book = new_id()
    old = Log(services.logs.nc, book, kind="book")
    await old.create()
    await old.append_many(
        [
            BookCreated(name="Old lab", owner=ada.user, owner_email="ada@example.org"),
            MemberAdded(user=ada.user, email="ada@example.org", role="owner"),
            MemberAdded(user="email:dan@example.org", email="dan@example.org"),
        ],
        actor=ada.user,
    )
    await old.close()
    assert b"Old lab" in b"".join(await _raw_book_payloads(services, book))
    state = await services.books.state(book, fresh=True)
    assert state.name == "Old lab" and state.role_of(ada.user) == "owner"
    dan = bearer(await sign_up(client, email="dan@example.org", name="Dan"))
    assert book in [b["id"] for b in (await client.get("/v1/books", headers=dan)).json()["books"]]


async def test_erasing_a_person_drops_blobs_only_their_chapters_name(client, services):
    # Bob's two chapters hold the same document, and one holds Ada's too: his document's bytes
    # go (no chapter but his names them), Ada's stay (her chapter still names them).
    ada, bob, _, bob_chapter = await _bob_and_ada(client, services)
    again = await client.post(
        f"/v1/books/{ada.book}/chapters", json={"title": "Bob's copy"}, headers=bob
    )
    assert again.status_code == 201, again.text
    second = again.json()["id"]
    up = await upload(client, second, bob, [("bob-secret.md", BOB_DOC, "text/markdown")])
    assert up.status_code == 201, up.text
    up = await upload(client, bob_chapter, bob, [("animals.md", ANIMALS.encode(), "text/markdown")])
    assert up.status_code == 201, up.text
    await services.settled(second, projections=("catalogue", "vectors"))
    await services.settled(bob_chapter, projections=("catalogue", "vectors"))
    bobs, adas = blob_hash(BOB_DOC), blob_hash(ANIMALS.encode())
    assert await services.blobs.exists(bobs) and await services.blobs.exists(adas)

    erased = await client.delete("/v1/me", headers=bob)
    assert erased.status_code == 200, erased.text
    assert not await services.blobs.exists(bobs)
    assert await services.blobs.exists(adas)
    for chapter in (bob_chapter, second):
        bodies = [decode(p).body for p in await _raw_payloads(services, chapter)]
        (event,) = [b for b in bodies if isinstance(b, ContentErased)]
        assert event.whole and bobs in event.refs and adas not in event.refs
    found = await client.post(
        f"/v1/chapters/{ada.chapter}/search", json={"query": "snowy owl"}, headers=ada.headers
    )
    assert found.status_code == 200 and "tundra" in found.text
