"""A chapter's change feed: `GET /v1/chapters/{chapter}/changes` as server-sent events.

The feed is driven straight through the app's ASGI interface (`Feed`), so that a test reads each
event as it is sent and can hang up when it likes; httpx's in-process transport would wait for
the end of a stream that never ends.
"""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlencode

import pytest
from gateway_support import assert_error, bearer, sign_up
from sources_support import new_chapter, until_settled, upload

from gateway.routes import changes as changes_route
from gateway.session_cookies import CSRF_HEADER, SESSION_COOKIE


class Feed:
    """One request to the feed, its body read frame by frame; `hang_up` disconnects."""

    def __init__(self, app, chapter: str, headers: dict[str, str], **params: object) -> None:
        query = urlencode(
            {k: str(v).lower() if isinstance(v, bool) else v for k, v in params.items()}
        )
        self.scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},  # as uvicorn says
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": f"/v1/chapters/{chapter}/changes",
            "raw_path": f"/v1/chapters/{chapter}/changes".encode(),
            "root_path": "",
            "query_string": query.encode(),
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
            "client": ("127.0.0.1", 50000),
            "server": ("ragstack.test", 80),
        }
        self.app = app
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self._started = asyncio.Event()
        self._gone = asyncio.Event()
        self._chunks: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._buffer = b""
        self._asked = False
        self.task: asyncio.Task | None = None

    async def _receive(self) -> dict:
        if not self._asked:
            self._asked = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self._gone.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message: dict) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = {k.decode(): v.decode() for k, v in message["headers"]}
            self._started.set()
        elif message["type"] == "http.response.body":
            await self._chunks.put(message.get("body", b""))
            if not message.get("more_body", False):
                await self._chunks.put(None)

    async def __aenter__(self) -> Feed:
        self.task = asyncio.create_task(self.app(self.scope, self._receive, self._send))
        async with asyncio.timeout(10):
            await self._started.wait()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.hang_up()

    async def hang_up(self) -> None:
        self._gone.set()
        assert self.task is not None
        async with asyncio.timeout(5):
            await self.task

    async def frame(self, timeout: float = 30) -> dict | None:
        """The next frame: {"event", "id", "data"} or {"comment"}; None at the end."""
        async with asyncio.timeout(timeout):
            while b"\n\n" not in self._buffer:
                chunk = await self._chunks.get()
                if chunk is None:
                    return None
                self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\n\n", 1)
        return parse_frame(raw.decode())

    async def change_of(self, kind: str, timeout: float = 30) -> dict:
        """Read on until a change of type `kind`; its data."""
        async with asyncio.timeout(timeout):
            while True:
                got = await self.frame()
                assert got is not None, f"the feed ended before a {kind}"
                if got.get("event") == "change" and got["data"]["type"] == kind:
                    return got


def parse_frame(raw: str) -> dict:
    frame: dict = {}
    for line in raw.split("\n"):
        field, _, value = line.partition(": ")
        if field == "":
            frame["comment"] = value
        elif field == "data":
            frame["data"] = json.loads(value)
        else:
            frame[field] = value
    return frame


def changes_in(text: str) -> list[dict]:
    """The change events of a whole (ended) feed's body."""
    frames = [parse_frame(raw) for raw in text.split("\n\n") if raw.strip()]
    return [f for f in frames if f.get("event") == "change"]


@pytest.fixture
async def desk(client):
    headers = bearer(await sign_up(client))
    return headers, await new_chapter(client, headers)


async def test_an_upload_shows_up_live_as_added_then_extracted(app, client, desk):
    headers, chapter = desk
    async with Feed(app, chapter, headers) as feed:
        assert feed.status == 200
        assert feed.headers["content-type"].startswith("text/event-stream")
        assert feed.headers["cache-control"] == "no-cache"
        assert (await feed.frame()) == {"retry": "3000"}
        # The stored history comes first: the chapter's creation.
        created = await feed.change_of("ChapterCreated")
        assert created["id"] == "1" and created["data"]["rev"] == 1
        # Then, live, the upload and its extraction, as they are stored.
        made = await upload(
            client, chapter, headers, [("notes.txt", b"Owls nest in trees.", "text/plain")]
        )
        assert made.status_code == 201, made.text
        source = made.json()["sources"][0]["id"]
        added = await feed.change_of("SourceAdded")
        assert added["data"]["source"] == source and added["data"]["summary"] == "added notes.txt"
        assert added["id"] == str(added["data"]["rev"]) and added["data"]["actor"]
        extracted = await feed.change_of("SourceExtracted")
        assert extracted["data"]["source"] == source
        assert extracted["data"]["summary"].startswith("extracted notes.txt: ")
        assert extracted["data"]["actor"].startswith("proc:")
        assert int(extracted["id"]) > int(added["id"])


async def test_a_reconnect_resumes_after_its_last_event_id(client, desk):
    headers, chapter = desk
    for name in ("a.txt", "b.txt", "c.txt"):
        made = await upload(client, chapter, headers, [(name, b"Some text.", "text/plain")])
        assert made.status_code == 201, made.text
        await until_settled(client, chapter, made.json()["sources"][0]["id"], headers)
    url = f"/v1/chapters/{chapter}/changes"
    whole = changes_in((await client.get(url, params={"follow": "false"}, headers=headers)).text)
    revs = [int(c["id"]) for c in whole]
    assert revs == list(range(1, len(revs) + 1)) and len(revs) >= 4
    # The header wins over `after`, as a browser's EventSource sends both on a reconnect.
    resumed = await client.get(
        url, params={"follow": "false", "after": 0}, headers={**headers, "Last-Event-ID": "2"}
    )
    assert [int(c["id"]) for c in changes_in(resumed.text)] == revs[2:]
    later = await client.get(url, params={"follow": "false", "after": 3}, headers=headers)
    assert [int(c["id"]) for c in changes_in(later.text)] == revs[3:]
    # A Last-Event-ID this feed never sent is refused.
    bad = await client.get(
        url, params={"follow": "false"}, headers={**headers, "Last-Event-ID": "x"}
    )
    assert_error(bad, 400, "bad_request")


async def test_a_chapter_the_caller_cannot_see_is_404(client, desk):
    _, chapter = desk
    stranger = bearer(await sign_up(client, email="eve@example.org"))
    refused = await client.get(f"/v1/chapters/{chapter}/changes", headers=stranger)
    assert refused.status_code == 404, refused.text
    assert_error(await client.get(f"/v1/chapters/{chapter}/changes"), 401, "not_authenticated")


async def test_a_client_that_hangs_up_stops_the_read_of_the_log_at_once(app, desk):
    headers, chapter = desk

    def readers() -> list[asyncio.Task]:
        return [
            t for t in asyncio.all_tasks() if t.get_name() == f"changes:{chapter}" and not t.done()
        ]

    feed = Feed(app, chapter, headers)
    async with feed:
        await feed.change_of("ChapterCreated")
        assert len(readers()) == 1  # following the log, waiting for more
    # The feed was quiet (no write to notice the hang-up by), yet the request ended and the
    # reader is gone within moments, not at the next keep-alive.
    assert feed.task.done()
    async with asyncio.timeout(1):
        while readers():
            await asyncio.sleep(0.01)


async def test_quiet_feeds_send_keep_alive_comments(app, desk, monkeypatch):
    monkeypatch.setattr(changes_route, "KEEPALIVE_S", 0.2)
    headers, chapter = desk
    async with Feed(app, chapter, headers) as feed:
        await feed.change_of("ChapterCreated")
        assert (await feed.frame(timeout=5)) == {"comment": "keep-alive"}


async def test_the_feed_closes_when_the_callers_token_is_revoked(app, client, desk, monkeypatch):
    monkeypatch.setattr(changes_route, "ACCESS_CHECK_S", 0.2)
    headers, chapter = desk
    made = await client.post("/v1/auth/tokens", json={"name": "feed"}, headers=headers)
    token, token_id = made.json()["token"], made.json()["id"]
    async with Feed(app, chapter, bearer(token)) as feed:
        await feed.change_of("ChapterCreated")
        gone = await client.delete(f"/v1/auth/tokens/{token_id}", headers=headers)
        assert gone.status_code == 204
        closed = await feed.frame(timeout=5)
        assert closed["event"] == "closed" and closed["data"]["code"] == "invalid_token"
        assert await feed.frame(timeout=5) is None  # the stream ended


async def test_a_session_cookie_opens_the_feed_and_signing_out_closes_it(app, client, monkeypatch):
    # What a browser's EventSource does: the cookie, no header of its own.
    monkeypatch.setattr(changes_route, "ACCESS_CHECK_S", 0.2)
    signed = await client.post(
        "/v1/auth/session/signup",
        json={"email": "ada@example.org", "password": "correct horse battery"},
    )
    assert signed.status_code == 201, signed.text
    csrf = {CSRF_HEADER: signed.json()["csrf_token"]}
    book = (await client.get("/v1/books")).json()["books"][0]["id"]
    made = await client.post(f"/v1/books/{book}/chapters", json={"title": "Live"}, headers=csrf)
    chapter = made.json()["id"]
    cookie = {"Cookie": f"{SESSION_COOKIE}={client.cookies[SESSION_COOKIE]}"}
    async with Feed(app, chapter, cookie) as feed:
        assert feed.status == 200
        await feed.change_of("ChapterCreated")
        assert (await client.delete("/v1/auth/session", headers=csrf)).status_code == 204
        closed = await feed.frame(timeout=5)
        assert closed["event"] == "closed" and closed["data"]["code"] == "session_expired"


async def test_the_feed_closes_when_the_chapter_is_no_longer_readable(
    app, client, desk, monkeypatch
):
    monkeypatch.setattr(changes_route, "ACCESS_CHECK_S", 0.2)
    headers, chapter = desk
    async with Feed(app, chapter, headers) as feed:
        await feed.change_of("ChapterCreated")
        assert (await client.delete(f"/v1/chapters/{chapter}", headers=headers)).status_code == 204
        while (got := await feed.frame(timeout=10)) is not None and got.get("event") != "closed":
            pass  # the deletion's own change may come first
        assert got is not None and got["data"]["code"] == "chapter_not_found"


async def test_the_document_says_events_for_200_and_json_for_errors(client):
    document = (await client.get("/openapi.json")).json()
    operation = document["paths"]["/v1/chapters/{chapter}/changes"]["get"]
    assert "text/event-stream" in operation["responses"]["200"]["content"]
    for status in ("400", "401", "404"):
        assert list(operation["responses"][status]["content"]) == ["application/json"]
    assert {p["name"] for p in operation["parameters"]} >= {"after", "follow", "last-event-id"}
