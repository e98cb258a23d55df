"""`Idempotency-Key`: a retried write is stored once and answers as the first attempt did; the
SDK sends a key with every write and retries when the answer is lost on the way."""

from __future__ import annotations

import httpx
import pytest

from app.services import Services
from client.sdk import ApiError, AsyncClient, ServerUnreachable
from events import SourceAdded
from gateway.app import create_app

UPLOAD = {"file": ("notes.txt", b"Idempotent writes are stored once.", "text/plain")}


def _raw(services: Services, token: str | None) -> httpx.AsyncClient:
    """Plain HTTP to the same app, to send chosen headers."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(
        base_url="http://ragstack.test",
        transport=httpx.ASGITransport(create_app(services)),
        headers=headers,
    )


async def _chapter(alice: AsyncClient) -> str:
    book = await alice.create_book("Retries")
    return (await alice.create_chapter(book.id, "Notes")).id


async def test_a_retried_upload_with_its_key_is_stored_once_and_answers_the_same(
    services: Services, alice: AsyncClient
):
    chapter = await _chapter(alice)
    path = f"/v1/chapters/{chapter}/sources"
    async with _raw(services, alice.token) as http:
        key = {"Idempotency-Key": "upload-0001-aaaa"}
        first = await http.post(path, files=UPLOAD, headers=key)
        again = await http.post(path, files=UPLOAD, headers=key)
        other = await http.post(path, files=UPLOAD, headers={"Idempotency-Key": "upload-0002"})
    assert first.status_code == again.status_code == other.status_code == 201
    one, two, three = (r.json() for r in (first, again, other))
    assert two["sources"][0]["id"] == one["sources"][0]["id"]
    assert two["rev"] == one["rev"]
    assert three["sources"][0]["id"] != one["sources"][0]["id"]  # another key: another write
    added = [
        e.envelope.body.source
        async for e in services.logs.chapter(chapter).read()
        if isinstance(e.envelope.body, SourceAdded)
    ]
    assert added == [one["sources"][0]["id"], three["sources"][0]["id"]]  # the log, once each
    listed = await alice.sources(chapter)
    assert sorted(s.id for s in listed) == sorted(
        [one["sources"][0]["id"], three["sources"][0]["id"]]
    )


async def test_a_malformed_key_is_refused_and_nothing_is_written(
    services: Services, alice: AsyncClient
):
    chapter = await _chapter(alice)
    async with _raw(services, alice.token) as http:
        for bad in ("short", "has space here", "x" * 129):
            answer = await http.post(
                f"/v1/chapters/{chapter}/sources", files=UPLOAD, headers={"Idempotency-Key": bad}
            )
            assert answer.status_code == 400
            assert answer.json()["error"]["code"] == "invalid_idempotency_key"
    assert await alice.sources(chapter) == []


async def test_one_users_key_never_answers_for_another(services: Services, sdk: AsyncClient):
    await sdk.signup("alice@example.com", "correct horse battery", "Alice")
    book = await sdk.create_book("Shared")
    chapter = (await sdk.create_chapter(book.id, "Together")).id
    await sdk.invite(book.id, "bob@example.com", role="admin")
    alice_token = sdk.token
    async with AsyncClient(
        "http://ragstack.test", transport=httpx.ASGITransport(create_app(services))
    ) as bob:
        await bob.signup("bob@example.com", "correct horse battery", "Bob")
        key = {"Idempotency-Key": "same-key-for-both"}
        async with _raw(services, alice_token) as a, _raw(services, bob.token) as b:
            path = f"/v1/chapters/{chapter}/sources"
            from_alice = await a.post(path, files=UPLOAD, headers=key)
            from_bob = await b.post(path, files=UPLOAD, headers=key)
    assert from_alice.status_code == from_bob.status_code == 201, from_bob.text
    ids = [r.json()["sources"][0]["id"] for r in (from_alice, from_bob)]
    assert ids[0] != ids[1]


class _AnswerLostOnce(httpx.AsyncBaseTransport):
    """Delivers each write to the app, then drops the first answer on the floor: the write
    landed, the client saw a broken connection (a gateway killed mid-answer)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.keys: list[str | None] = []
        self.dropped = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method == "POST" and request.url.path.endswith("/sources"):
            self.keys.append(request.headers.get("Idempotency-Key"))
            if self.dropped == 0:
                self.dropped += 1
                await response.aread()
                raise httpx.RemoteProtocolError("server disconnected without an answer")
        return response


async def test_the_sdk_retries_a_write_whose_answer_was_lost_and_it_is_stored_once(
    services: Services, alice: AsyncClient
):
    chapter = await _chapter(alice)
    lossy = _AnswerLostOnce(httpx.ASGITransport(create_app(services)))
    async with AsyncClient("http://ragstack.test", alice.token, transport=lossy) as client:
        source = await client.upload(chapter, b"Stored once, answered twice.", name="once.txt")
    assert lossy.dropped == 1 and len(lossy.keys) == 2
    assert lossy.keys[0] is not None and lossy.keys[0] == lossy.keys[1]  # one logical write
    assert [s.id for s in await alice.sources(chapter)] == [source.id]


async def test_each_logical_write_gets_a_key_of_its_own(services: Services, alice: AsyncClient):
    chapter = await _chapter(alice)
    lossy = _AnswerLostOnce(httpx.ASGITransport(create_app(services)))
    lossy.dropped = 1  # drop nothing: watch the keys only
    async with AsyncClient("http://ragstack.test", alice.token, transport=lossy) as client:
        await client.upload(chapter, b"one", name="one.txt")
        await client.upload(chapter, b"two", name="two.txt")
    assert len(set(lossy.keys)) == 2
    assert len(await alice.sources(chapter)) == 2


async def test_without_retries_a_lost_answer_is_an_error(services: Services, alice: AsyncClient):
    chapter = await _chapter(alice)
    lossy = _AnswerLostOnce(httpx.ASGITransport(create_app(services)))
    async with AsyncClient(
        "http://ragstack.test", alice.token, transport=lossy, retry_for=0.0
    ) as client:
        with pytest.raises(ServerUnreachable):
            await client.upload(chapter, b"lost", name="lost.txt")
    assert len(await alice.sources(chapter)) == 1  # it landed; only the answer was lost


class _UnavailableOnce(httpx.AsyncBaseTransport):
    """Answers the first write with the gateway's 503 for `code` (its store away), then serves."""

    def __init__(self, inner: httpx.AsyncBaseTransport, code: str) -> None:
        self.inner = inner
        self.code = code
        self.refused = 0
        self.sent = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/sources"):
            self.sent += 1
            if not self.refused:
                self.refused += 1
                body = {"error": {"code": self.code, "message": "away for a moment"}}
                return httpx.Response(503, json=body)
        return await self.inner.handle_async_request(request)


async def test_the_sdk_retries_a_503_of_the_servers_log_but_not_of_a_provider(
    services: Services, alice: AsyncClient
):
    chapter = await _chapter(alice)
    log_away = _UnavailableOnce(httpx.ASGITransport(create_app(services)), "log_unavailable")
    async with AsyncClient("http://ragstack.test", alice.token, transport=log_away) as client:
        await client.upload(chapter, b"after the log came back", name="back.txt")
    assert (log_away.refused, log_away.sent) == (1, 2)

    provider_away = _UnavailableOnce(
        httpx.ASGITransport(create_app(services)), "provider_unavailable"
    )
    async with AsyncClient("http://ragstack.test", alice.token, transport=provider_away) as client:
        with pytest.raises(ApiError) as caught:
            await client.upload(chapter, b"not retried", name="no.txt")
    assert caught.value.status == 503 and provider_away.sent == 1


async def test_a_retried_chapter_creation_answers_with_the_first_chapter(
    services: Services, alice: AsyncClient
):
    book = await alice.create_book("Retried chapters")
    async with _raw(services, alice.token) as http:
        key = {"Idempotency-Key": "new-chapter-0001"}
        path = f"/v1/books/{book.id}/chapters"
        first = await http.post(path, json={"title": "Once"}, headers=key)
        again = await http.post(path, json={"title": "Once"}, headers=key)
    assert first.status_code == again.status_code == 201, again.text
    assert again.json()["id"] == first.json()["id"]
    titles = [c.title for c in await alice.chapters(book.id)]
    assert titles.count("Once") == 1


async def test_a_retried_thread_start_answers_with_the_first_thread(
    services: Services, alice: AsyncClient
):
    chapter = await _chapter(alice)
    async with _raw(services, alice.token) as http:
        key = {"Idempotency-Key": "new-thread-0001"}
        path = f"/v1/chapters/{chapter}/threads"
        first = await http.post(path, json={"title": "Questions"}, headers=key)
        again = await http.post(path, json={"title": "Questions"}, headers=key)
    assert first.status_code == again.status_code == 201, again.text
    assert again.json()["id"] == first.json()["id"]
    assert [t.id for t in await alice.threads(chapter)] == [first.json()["id"]]


async def test_a_retried_book_creation_answers_with_the_first_book(
    services: Services, alice: AsyncClient
):
    before = {b.id for b in await alice.books()}
    async with _raw(services, alice.token) as http:
        key = {"Idempotency-Key": "new-book-0001"}
        first = await http.post("/v1/books", json={"name": "Once"}, headers=key)
        again = await http.post("/v1/books", json={"name": "Once"}, headers=key)
        other = await http.post(
            "/v1/books", json={"name": "Once"}, headers={"Idempotency-Key": "new-book-0002"}
        )
    assert first.status_code == again.status_code == other.status_code == 201, again.text
    assert again.json()["id"] == first.json()["id"] != other.json()["id"]
    books = [b for b in await alice.books() if b.id not in before]
    assert sorted(b.name for b in books) == ["Once", "Once"]
    # The book is whole, its events stored once (its signing key follows them).
    book = services.logs.book(first.json()["id"])
    assert [type(e.envelope.body).__name__ async for e in book.read()] == [
        "BookCreated",
        "MemberAdded",
        "BookKeyAdded",
    ]
