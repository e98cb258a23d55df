"""The async SDK against the real app (httpx's ASGI transport over real services): every call
returns its typed result, and every error the server gives arrives as `ApiError`."""

from __future__ import annotations

import inspect
import socket

import pytest

from client.aio_audit import AuditCalls
from client.aio_shares import ShareCalls
from client.sdk import (
    Answer,
    ApiError,
    AsyncClient,
    Book,
    Chapter,
    Client,
    SearchHit,
    ServerUnreachable,
    Session,
    Source,
)
from engine.server import free_port

PASSAGE = (
    "The Voyager 2 probe flew past Neptune in August 1989 and found the Great Dark Spot, "
    "a storm the size of Earth."
)


async def test_signup_login_and_me(sdk: AsyncClient):
    session = await sdk.signup("Alice@Example.com", "correct horse battery", "Alice")
    assert isinstance(session, Session)
    assert session.user.email == "alice@example.com"
    assert sdk.token == session.token

    again = await sdk.login("alice@example.com", "correct horse battery")
    assert again.token != session.token
    me = await sdk.me()
    assert (me.id, me.name) == (session.user.id, "Alice")
    info = await sdk.info()
    assert "books" in info.features and info.limits["upload_bytes"] > 0


async def test_wrong_password_is_an_api_error_with_the_servers_code(sdk: AsyncClient):
    await sdk.signup("alice@example.com", "correct horse battery")
    with pytest.raises(ApiError) as caught:
        await sdk.login("alice@example.com", "wrong horse battery")
    assert caught.value.status == 401
    assert caught.value.code == "invalid_credentials"
    assert "password" in caught.value.message


async def test_no_token_is_401(sdk: AsyncClient):
    with pytest.raises(ApiError) as caught:
        await sdk.books()
    assert (caught.value.status, caught.value.code) == (401, "not_authenticated")


async def test_tokens_can_be_made_listed_and_revoked(alice: AsyncClient):
    made = await alice.create_token("ci", ttl_s=3600)
    assert made.token and made.name == "ci"
    listed = await alice.tokens()
    assert {t.id for t in listed} >= {made.id}
    assert sum(t.current for t in listed) == 1

    await alice.revoke_token(made.id)
    assert made.id not in {t.id for t in await alice.tokens()}


async def test_books_members_and_chapters(alice: AsyncClient):
    book = await alice.create_book("Acme research")
    assert isinstance(book, Book) and book.role == "owner"
    assert book.id in {b.id for b in await alice.books()}
    assert (await alice.book(book.id)).name == "Acme research"

    invited = await alice.invite(book.id, "bob@example.com", role="admin")
    assert invited.pending and invited.role == "admin"
    members = await alice.members(book.id)
    assert [m.email for m in members] == ["alice@example.com", "bob@example.com"]

    chapter = await alice.create_chapter(book.id, "Papers")
    assert isinstance(chapter, Chapter) and chapter.book == book.id
    renamed = await alice.rename_chapter(chapter.id, "Planetary papers")
    assert renamed.title == "Planetary papers"
    assert [c.title for c in await alice.chapters(book.id)] == ["Planetary papers"]
    assert (await alice.chapter(chapter.id)).rev == 2  # ChapterCreated, ChapterRenamed

    await alice.delete_chapter(chapter.id)
    with pytest.raises(ApiError) as caught:
        await alice.chapter(chapter.id)
    assert caught.value.status == 404


async def test_unknown_chapter_is_404(alice: AsyncClient):
    with pytest.raises(ApiError) as caught:
        await alice.search("01jzzzzzzzzzzzzzzzzzzzzzzz", "anything")
    assert caught.value.status == 404


async def test_upload_search_and_ask_cite_the_passage(alice: AsyncClient):
    book = await alice.create_book("Space")
    chapter = await alice.create_chapter(book.id, "Probes")
    seen: list[tuple[int, int]] = []

    source = await alice.upload(
        chapter.id,
        PASSAGE.encode(),
        name="voyager.txt",
        tags=["nasa"],
        progress=lambda sent, total: seen.append((sent, total)),
        wait=True,
    )

    assert isinstance(source, Source)
    assert (source.name, source.status, source.tags) == ("voyager.txt", "extracted", ["nasa"])
    assert seen and seen[-1] == (len(PASSAGE), len(PASSAGE))
    assert [s.id for s in await alice.sources(chapter.id, tags=["nasa"])] == [source.id]
    assert "Great Dark Spot" in await alice.source_text(chapter.id, source.id)

    hits = await alice.search(chapter.id, "storm on Neptune", k=3)
    assert hits and isinstance(hits[0], SearchHit)
    assert hits[0].source == source.id and hits[0].source_name == "voyager.txt"
    assert "Great Dark Spot" in hits[0].text
    assert await alice.search(chapter.id, "storm on Neptune", tags=["other"]) == []

    answer = await alice.ask(chapter.id, "What did Voyager 2 find at Neptune?")
    assert isinstance(answer, Answer) and answer.model == "extractive"
    assert answer.citations and answer.citations[0].source == source.id
    assert "Great Dark Spot" in answer.citations[0].text

    # Streamed: pieces of text, then the whole answer, in a thread that now holds both messages.
    items = [i async for i in alice.ask_stream(chapter.id, "When did it pass Neptune?")]
    final = items[-1]
    assert isinstance(final, Answer) and final.citations
    assert all(isinstance(i, str) for i in items[:-1])
    assert "".join(items[:-1]) == final.text
    assert final.thread is not None
    messages = await alice.messages(chapter.id, final.thread)
    assert [m.role for m in messages] == ["user", "assistant"]
    assert messages[1].citations[0].source_name == "voyager.txt"
    assert final.thread in {t.id for t in await alice.threads(chapter.id)}


async def test_a_rejected_upload_says_why(alice: AsyncClient):
    book = await alice.create_book("Junk")
    chapter = await alice.create_chapter(book.id, "Bad files")
    empty = await alice.upload(chapter.id, b"", name="empty.txt", wait=True)
    assert empty.status == "rejected" and empty.code == "empty" and empty.reason


async def test_retag_and_remove_a_source(alice: AsyncClient):
    book = await alice.create_book("Tags")
    chapter = await alice.create_chapter(book.id, "Notes")
    source = await alice.upload(chapter.id, PASSAGE.encode(), name="v.txt", wait=True)

    retagged = await alice.retag_source(chapter.id, source.id, ["b", "a"])
    assert retagged.tags == ["a", "b"]
    await alice.remove_source(chapter.id, source.id)
    assert (await alice.source(chapter.id, source.id)).status == "removed"
    assert await alice.sources(chapter.id) == []


async def test_an_absent_server_is_server_unreachable():
    # The client retries a while (a restarting server comes back): one second here.
    async with AsyncClient(f"http://127.0.0.1:{free_port()}", retry_for=1.0) as client:
        with pytest.raises(ServerUnreachable) as caught:
            await client.info()
    assert caught.value.status == 0 and "cannot reach" in caught.value.message


async def test_a_web_page_the_server_may_not_fetch_is_a_clear_error(alice: AsyncClient):
    book = await alice.create_book("Web")
    chapter = await alice.create_chapter(book.id, "Pages")
    # The server refuses to fetch non-public addresses (no requests into its own network).
    with pytest.raises(ApiError) as caught:
        await alice.add_url(chapter.id, f"http://127.0.0.1:{free_port()}/page.html")
    assert caught.value.status == 422 and caught.value.message
    assert await alice.sources(chapter.id) == []


async def test_a_server_that_never_answers_is_a_timeout_not_unreachable():
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        async with AsyncClient(url, timeout=0.3) as client:
            with pytest.raises(ApiError) as caught:
                await client.info()
    assert not isinstance(caught.value, ServerUnreachable)
    assert caught.value.code == "timeout" and "did not answer" in caught.value.message


async def test_a_books_llm_settings_keep_the_key_hidden(alice: AsyncClient):
    book = await alice.create_book("Answers")
    assert (await alice.book_llm(book.id)).source in ("server", "none")

    chosen = await alice.set_book_llm(
        book.id,
        "openai",
        model="gpt-4o-mini",
        base_url="http://127.0.0.1:9/v1",
        api_key="sk-secret",
    )
    assert (chosen.source, chosen.kind, chosen.has_api_key) == ("book", "openai", True)
    assert "sk-secret" not in repr(await alice.book_llm(book.id))

    cleared = await alice.clear_book_llm(book.id)
    assert cleared.source != "book" and not cleared.has_api_key


async def test_a_books_rerank_settings_keep_the_key_hidden(alice: AsyncClient):
    book = await alice.create_book("Reranked")
    assert (await alice.book_rerank(book.id)).source in ("server", "none")
    chosen = await alice.set_book_rerank(
        book.id, "cohere", base_url="http://127.0.0.1:9", model="rerank-v3.5", depth=12,
        api_key="rk-secret",
    )  # fmt: skip
    assert (chosen.source, chosen.kind, chosen.depth, chosen.has_api_key) == (
        "book", "cohere", 12, True,
    )  # fmt: skip
    assert "rk-secret" not in repr(await alice.book_rerank(book.id))
    assert (await alice.set_book_rerank(book.id, "none")).kind == "none"
    cleared = await alice.clear_book_rerank(book.id)
    assert cleared.source != "book" and not cleared.has_api_key


def test_the_blocking_client_offers_every_async_call_with_its_parameters():
    # `Client` is made from `AsyncClient` one call at a time: a new async call needs its line.
    plumbing = {"aclose", "request"}
    calls = {
        name
        for name, member in vars(AsyncClient).items()
        | vars(AuditCalls).items()
        | vars(ShareCalls).items()
        if not name.startswith("_") and inspect.isfunction(member) and name not in plumbing
    }
    missing = sorted(name for name in calls if not hasattr(Client, name))
    assert missing == []
    assert inspect.signature(Client.upload) == inspect.signature(AsyncClient.upload)
    assert Client.ask.__doc__ == AsyncClient.ask.__doc__
