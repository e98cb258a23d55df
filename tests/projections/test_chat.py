"""The chat view's contract, run against SQLite (a temp views database) and the machine's PostgreSQL.

Events reach the view the way the runner delivers them: `apply(chapter, batch)` with envelopes in
rev order. Each PostgreSQL test works in a schema of its own (`pg_schema`), dropped afterwards.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import msgspec
import pytest

from engine.blobs.local import LocalBlobStore
from engine.log import Logs
from engine.nats import NATS
from events import (
    ChapterCreated,
    Citation,
    ContentErased,
    Envelope,
    Event,
    MessagePosted,
    SourceAdded,
    ThreadStarted,
    TokenUsage,
    UnknownEvent,
    decode,
    new_id,
)
from events.personal import ERASED
from projections.chat import (
    MAX_PAGE,
    ChatInputError,
    ChatView,
    ChatViewConfigError,
    ChatViewUnavailable,
    CitationView,
    InvalidChatQuery,
    MessageView,
    ThreadView,
    UsageView,
    open_chat_view,
)
from projections.chat_postgres import PostgresChatView
from projections.runner import LogSource, Runner
from projections.store import Views
from tests.requirements import PostgresSchema, postgres_server

T0 = 1_700_000_000_000

AnyView = ChatView | PostgresChatView
OpenView = Callable[[], Awaitable[AnyView]]


class Feed:
    """Event bodies written in order, turned into a chapter's envelopes (rev i+1, a second apart)."""

    def __init__(self) -> None:
        self.items: list[tuple[str, Event | UnknownEvent]] = []

    def add(self, body: Event | UnknownEvent, actor: str = "u-alice") -> None:
        self.items.append((actor, body))

    def thread(self, title: str = "", actor: str = "u-alice") -> str:
        thread = new_id()
        self.add(ThreadStarted(thread=thread, title=title), actor)
        return thread

    def message(self, thread: str, text: str, *, actor: str = "u-alice", **fields: Any) -> str:
        message = fields.pop("message", None) or new_id()
        role = fields.pop("role", "user")
        self.add(
            MessagePosted(thread=thread, message=message, role=role, text=text, **fields), actor
        )
        return message

    def envelopes(self, chapter: str) -> list[Envelope]:
        return [
            Envelope(id=new_id(), chapter=chapter, rev=i + 1, at=T0 + i * 1000, actor=a, body=b)
            for i, (a, b) in enumerate(self.items)
        ]


def conversation(threads: int = 3, messages: int = 4) -> Feed:
    """A chapter with some sources, threads, questions and cited answers, interleaved."""
    feed = Feed()
    feed.add(ChapterCreated(book=new_id(), title="Notes"))
    feed.add(
        SourceAdded(source="s1", name="a.pdf", media_type="application/pdf", blob="b" * 64, size=9)
    )
    ids = [feed.thread(f"Thread {i}") for i in range(threads)]
    for n in range(messages):
        for i, thread in enumerate(ids):
            feed.message(thread, f"question {n} in {i}")
            feed.message(
                thread, f"answer {n} in {i}", role="assistant", actor="proc:chat",
                citations=[Citation(source="s1", chunk=f"{n:064x}", start=n, end=n + 10, page=n or None)],
                answered_at_rev=2, model="extractive", usage=TokenUsage(prompt=10 + n, completion=n),
            )  # fmt: skip
    return feed


async def apply_in_batches(
    view: AnyView, chapter: str, events: Sequence[Envelope], size: int
) -> None:
    for i in range(0, len(events), size):
        await view.apply(chapter, events[i : i + size])


# -- fixtures: one view per backend, reopenable over the same database -------------------------


@pytest.fixture(params=["sqlite", "postgres"])
async def open_view(request, views: Views) -> AsyncIterator[OpenView]:
    """Opens a chat view (another each call) over this test's database, through the factory."""
    opened: list[AnyView] = []
    # Only the PostgreSQL half needs a server: without one it is skipped, the SQLite half runs.
    pg: PostgresSchema | None = (
        request.getfixturevalue("pg_schema") if request.param == "postgres" else None
    )

    async def open_one() -> AnyView:
        if pg is None:
            view = await open_chat_view(None, views)
        else:
            view = await open_chat_view(pg.url, views, schema=pg.name)
        opened.append(view)
        return view

    yield open_one
    for view in opened:
        if isinstance(view, PostgresChatView):
            await view.close()


@pytest.fixture
async def view(open_view: OpenView) -> AnyView:
    return await open_view()


# -- the contract ---------------------------------------------------------------------------


async def test_threads_and_messages_round_trip_with_citations_and_usage(view):
    chapter, feed = new_id(), Feed()
    thread = feed.thread("Pricing questions")
    question = feed.message(thread, "How much does the plan cost? ünïcødé ✓")
    answer = feed.message(
        thread, "It costs 4 € [1][2].", role="assistant", actor="proc:chat",
        citations=[
            Citation(source="s1", chunk="a" * 64, start=10, end=42, page=3, heading="Prices"),
            Citation(source="s2", chunk="b" * 64, start=0, end=7),
        ],
        answered_at_rev=1, model="openai:gpt-4o-mini", usage=TokenUsage(prompt=120, completion=17),
    )  # fmt: skip
    await view.apply(chapter, feed.envelopes(chapter))

    assert await view.thread(chapter, thread) == ThreadView(
        id=thread, title="Pricing questions", actor="u-alice", created_rev=1, created_at=T0,
        message_count=2, last_at=T0 + 2000,
    )  # fmt: skip
    assert await view.threads(chapter) == [await view.thread(chapter, thread)]
    messages = await view.messages(chapter, thread)
    assert messages == [
        MessageView(
            id=question, thread=thread, role="user", text="How much does the plan cost? ünïcødé ✓",
            citations=[], rev=2, answered_at_rev=None, model=None, usage=None, actor="u-alice",
            at=T0 + 1000,
        ),
        MessageView(
            id=answer, thread=thread, role="assistant", text="It costs 4 € [1][2].",
            citations=[
                CitationView(source="s1", chunk="a" * 64, start=10, end=42, page=3, heading="Prices"),
                CitationView(source="s2", chunk="b" * 64, start=0, end=7, page=None, heading=None),
            ],
            rev=3, answered_at_rev=1, model="openai:gpt-4o-mini",
            usage=UsageView(prompt=120, completion=17), actor="proc:chat", at=T0 + 2000,
        ),
    ]  # fmt: skip
    # The shape the HTTP API serves, key for key.
    assert msgspec.to_builtins(messages[1]) == {
        "id": answer, "thread": thread, "role": "assistant", "text": "It costs 4 € [1][2].",
        "citations": [
            {"source": "s1", "chunk": "a" * 64, "start": 10, "end": 42, "page": 3, "heading": "Prices"},
            {"source": "s2", "chunk": "b" * 64, "start": 0, "end": 7, "page": None, "heading": None},
        ],
        "rev": 3, "answered_at_rev": 1, "model": "openai:gpt-4o-mini",
        "usage": {"prompt": 120, "completion": 17}, "actor": "proc:chat", "at": T0 + 2000,
    }  # fmt: skip
    assert await view.load_checkpoint(chapter) == (3, 1)


async def test_a_message_for_an_unknown_thread_creates_it_untitled(view):
    chapter, feed = new_id(), Feed()
    orphan = new_id()
    feed.message(orphan, "first words", actor="u-bob")
    feed.message(orphan, "second words", actor="u-bob")
    await view.apply(chapter, feed.envelopes(chapter))

    assert await view.thread(chapter, orphan) == ThreadView(
        id=orphan, title="", actor="u-bob", created_rev=1, created_at=T0, message_count=2,
        last_at=T0 + 1000,
    )  # fmt: skip
    assert [m.text for m in await view.messages(chapter, orphan)] == ["first words", "second words"]

    # A ThreadStarted arriving later names the thread but keeps who and when it began.
    more = Feed()
    more.items = [*feed.items]
    more.add(ThreadStarted(thread=orphan, title="Named late"), "u-carol")
    await view.apply(chapter, more.envelopes(chapter)[2:])
    named = await view.thread(chapter, orphan)
    assert (named.title, named.actor, named.created_rev, named.message_count) == (
        "Named late",
        "u-bob",
        1,
        2,
    )


async def test_threads_are_listed_newest_first_and_paged_by_thread_id(view):
    chapter, feed = new_id(), Feed()
    ids = [feed.thread(f"t{i}") for i in range(7)]
    await view.apply(chapter, feed.envelopes(chapter))

    pages, before = [], None
    while page := await view.threads(chapter, limit=3, before=before):
        pages.append([t.id for t in page])
        before = page[-1].id
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [t for p in pages for t in p] == sorted(ids, reverse=True)
    assert await view.threads(chapter, before=min(ids)) == []
    assert await view.threads(new_id()) == []


async def test_messages_are_oldest_first_and_paged_by_rev(view):
    chapter, feed = new_id(), Feed()
    thread, other = feed.thread("a"), feed.thread("b")
    for i in range(5):
        feed.message(thread, f"m{i}")
        feed.message(other, f"noise {i}")
    await view.apply(chapter, feed.envelopes(chapter))

    first = await view.messages(chapter, thread, limit=2)
    assert [m.text for m in first] == ["m0", "m1"]
    rest = await view.messages(chapter, thread, after_rev=first[-1].rev)
    assert [m.text for m in rest] == ["m2", "m3", "m4"]
    assert [m.rev for m in first + rest] == [3, 5, 7, 9, 11]
    assert await view.messages(chapter, thread, after_rev=11) == []
    assert await view.messages(chapter, new_id()) == []
    assert (await view.thread(chapter, thread)).message_count == 5


async def test_reads_refuse_arguments_out_of_range(view):
    chapter = new_id()
    for bad in (0, -1, MAX_PAGE + 1):
        with pytest.raises(InvalidChatQuery, match="limit"):
            await view.threads(chapter, limit=bad)
        with pytest.raises(InvalidChatQuery, match="limit"):
            await view.messages(chapter, "t", limit=bad)
    with pytest.raises(InvalidChatQuery, match="after_rev"):
        await view.messages(chapter, "t", after_rev=-1)
    assert await view.messages(chapter, "t", limit=MAX_PAGE, after_rev=2**70) == []


async def test_events_the_view_does_not_read_still_move_the_checkpoint(view):
    chapter, feed = new_id(), Feed()
    feed.add(ChapterCreated(book=new_id(), title="x"))
    feed.add(UnknownEvent("FromTheFuture", msgspec.msgpack.encode({"type": "FromTheFuture"})))
    await view.apply(chapter, feed.envelopes(chapter))
    assert await view.load_checkpoint(chapter) == (2, 1)
    assert await view.threads(chapter) == []


async def test_nul_characters_are_stored_as_replacement_characters(view):
    chapter, feed = new_id(), Feed()
    thread = feed.thread("title\x00with nul")
    feed.message(thread, "a\x00b", model="m\x00")
    await view.apply(chapter, feed.envelopes(chapter))
    assert (await view.thread(chapter, thread)).title == "title\ufffdwith nul"
    [message] = await view.messages(chapter, thread)
    assert (message.text, message.model) == ("a\ufffdb", "m\ufffd")


async def test_batch_size_does_not_change_the_view(view):
    events = conversation().items
    digests, listings = set(), set()
    for size in (1, 2, 5, 64, len(events)):
        chapter, feed = new_id(), Feed()
        feed.items = events
        await apply_in_batches(view, chapter, feed.envelopes(chapter), size)
        assert await view.load_checkpoint(chapter) == (len(events), 1)
        digests.add(await view.digest(chapter))
        listings.add(msgspec.json.encode(await view.threads(chapter)))
    assert len(digests) == 1 and len(listings) == 1
    assert digests != {await view.digest(new_id())}


async def test_replaying_batches_changes_nothing(view):
    chapter = new_id()
    events = conversation().envelopes(chapter)
    first, second = events[:10], events[10:]
    await view.apply(chapter, first)
    await view.apply(chapter, second)
    digest, checkpoint = await view.digest(chapter), await view.load_checkpoint(chapter)

    await view.apply(chapter, second)  # the last batch again (its checkpoint write was not seen)
    await view.apply(chapter, first)  # an old batch, late (the checkpoint must not go back)
    await view.apply(chapter, events[5:15])  # a batch straddling the checkpoint
    assert await view.digest(chapter) == digest
    assert await view.load_checkpoint(chapter) == checkpoint


async def test_a_message_id_posted_twice_is_kept_once(view):
    chapter, feed = new_id(), Feed()
    thread = feed.thread("t")
    message = feed.message(thread, "first delivery")
    feed.message(thread, "second delivery", message=message)
    await view.apply(chapter, feed.envelopes(chapter))
    [kept] = await view.messages(chapter, thread)
    assert (kept.id, kept.text, kept.rev) == (message, "first delivery", 2)
    assert (await view.thread(chapter, thread)).message_count == 1
    assert await view.load_checkpoint(chapter) == (3, 1)


async def test_a_batch_failing_midway_leaves_view_and_checkpoint_unchanged(view):
    chapter, feed = new_id(), Feed()
    thread = feed.thread("t")
    feed.message(thread, "kept")
    await view.apply(chapter, feed.envelopes(chapter))
    digest = await view.digest(chapter)

    feed.thread("never seen")
    feed.message(thread, "never seen either")
    good = feed.envelopes(chapter)
    stray = msgspec.structs.replace(good[3], chapter=new_id())
    # The failing event comes after two that were already written inside the transaction.
    for bad_batch in (
        [*good[2:4], stray],
        [*good[2:4], msgspec.structs.replace(good[3], rev=3)],  # out of order
        [*good[2:4], msgspec.structs.replace(good[3], rev=5, at=2**63)],  # out of range
    ):
        with pytest.raises(ChatInputError, match=r"nothing applied|64-bit"):
            await view.apply(chapter, bad_batch)
        assert await view.digest(chapter) == digest
        assert await view.load_checkpoint(chapter) == (2, 1)
        assert len(await view.threads(chapter)) == 1

    await view.apply(chapter, good[2:])
    assert [m.text for m in await view.messages(chapter, thread)] == ["kept", "never seen either"]
    assert await view.load_checkpoint(chapter) == (4, 1)


async def test_reset_clears_one_chapter_only(view):
    feed = conversation(threads=2, messages=2)
    kept, cleared = new_id(), new_id()
    await view.apply(kept, feed.envelopes(kept))
    await view.apply(cleared, feed.envelopes(cleared))
    digest = await view.digest(kept)

    await view.reset(cleared)
    assert await view.threads(cleared) == []
    assert await view.load_checkpoint(cleared) is None
    assert await view.digest(kept) == digest
    assert await view.load_checkpoint(kept) == (len(feed.items), 1)

    # Folding the chapter again gives back the same view.
    await view.apply(cleared, feed.envelopes(cleared))
    assert await view.digest(cleared) == digest


async def test_two_processes_applying_the_same_batch_agree(open_view):
    # A chapter handed between workers may see the same batches from both for a moment.
    first, second = await open_view(), await open_view()
    chapter, alone, feed = new_id(), new_id(), conversation()
    events = feed.envelopes(chapter)
    await asyncio.gather(
        apply_in_batches(first, chapter, events, 4), apply_in_batches(second, chapter, events, 7)
    )
    await first.apply(alone, feed.envelopes(alone))
    assert await second.load_checkpoint(chapter) == (len(events), 1)
    assert (await first.thread(chapter, events[2].body.thread)).message_count == 8
    assert await first.digest(chapter) == await second.digest(alone)


# -- a version bump rebuilds, driven by the real runner over a real chapter log --------------------


class ChapterLogs(LogSource):
    """The runner's LogSource, blind to book logs: on the session's shared server they hold other
    tests' chapters, and only the chapter a test watches may be folded."""

    async def books(self) -> list[str]:
        return []


async def _fold(view: AnyView, source: ChapterLogs, chapter: str, rev: int) -> None:
    runner = Runner(source, [view], batch_size=3, retry_delay=0.1)
    try:
        runner.watch(chapter)
        async with asyncio.timeout(30):
            await runner.wait(chapter, rev)
    finally:
        await runner.stop()


async def test_a_version_bump_rebuilds_the_chapter_through_the_runner(open_view, shared_nc: NATS):
    chapter = new_id()
    async with Logs(shared_nc) as logs:
        log = logs.chapter(chapter)
        await log.create()
        for actor, body in conversation(threads=2, messages=3).items:
            head = await log.append(body, actor=actor)
        source = ChapterLogs(logs)

        live = await open_view()
        await _fold(live, source, chapter, head.rev)
        digest = await live.digest(chapter)
        assert await live.load_checkpoint(chapter) == (head.rev, 1)

        # Rows the log does not have (as an older version might have written) must not survive.
        stale = Feed()
        stale.items = [("u-x", ThreadStarted(thread=new_id(), title="stale"))]
        [extra] = stale.envelopes(chapter)
        await live.apply(chapter, [msgspec.structs.replace(extra, rev=head.rev + 1)])
        assert len(await live.threads(chapter)) == 3

        bumped = await open_view()
        bumped.version = 2
        assert await bumped.load_checkpoint(chapter) == (head.rev + 1, 1)  # the runner sees 1 != 2
        await _fold(bumped, source, chapter, head.rev)
        assert await bumped.load_checkpoint(chapter) == (head.rev, 2)
        assert await bumped.digest(chapter) == digest
        assert len(await bumped.threads(chapter)) == 2


async def test_an_erasure_makes_the_view_forget_through_the_runner(
    open_view, shared_nc: NATS, blobs: LocalBlobStore
):
    # A sealed log (texts in personal blobs); erasing one message's blob and appending
    # `ContentErased` makes either backend clear the chapter and re-fold it without the text.
    chapter = new_id()
    async with Logs(shared_nc, blobs=blobs) as logs:
        log = logs.chapter(chapter)
        await log.create()
        feed = Feed()
        feed.add(ChapterCreated(book=new_id(), title="Notes"))
        thread = feed.thread("Kept")
        feed.message(thread, "Plimsolldrake is my secret")
        feed.message(thread, "an answer that stays", role="assistant", actor="proc:chat")
        for actor, body in feed.items:
            head = await log.append(body, actor=actor)
        source = ChapterLogs(logs)
        view = await open_view()
        await _fold(view, source, chapter, head.rev)
        texts = [m.text for m in await view.messages(chapter, thread)]
        assert texts == ["Plimsolldrake is my secret", "an answer that stays"]

        raw = [decode(e.payload).body async for e in log.read()]
        secret = next(b.sealed for b in raw if isinstance(b, MessagePosted) and b.role == "user")
        await blobs.delete(secret)
        erased = await log.append(ContentErased(refs=[secret], reason="person"), actor="u-alice")
        await _fold(view, source, chapter, erased.rev)
        texts = [m.text for m in await view.messages(chapter, thread)]
        assert texts == [ERASED, "an answer that stays"]
        assert await view.load_checkpoint(chapter) == (erased.rev, 1)
        # A second pass over the same erasure (a restart) changes nothing.
        await view.apply(chapter, [erased.envelope])
        assert await view.load_checkpoint(chapter) == (erased.rev, 1)


# -- backends side by side, and the factory ------------------------------------------------------


async def test_sqlite_and_postgres_build_identical_views(views, pg_schema):
    sqlite_view = await open_chat_view("sqlite:///ignored.db", views)
    postgres_view = await open_chat_view(pg_schema.url, views, schema=pg_schema.name)
    try:
        chapter = new_id()
        feed = conversation()
        feed.message(new_id(), "orphan ✓\x00")
        events = feed.envelopes(chapter)
        await apply_in_batches(sqlite_view, chapter, events, 5)
        await apply_in_batches(postgres_view, chapter, events, 8)
        assert await sqlite_view.digest(chapter) == await postgres_view.digest(chapter)
        assert await sqlite_view.threads(chapter, limit=2) == await postgres_view.threads(
            chapter, limit=2
        )
    finally:
        await postgres_view.close()


async def test_the_factory_picks_the_backend_from_the_url(views, tmp_path):
    for url in (None, "", "sqlite:///x.db", "sqlite:", str(tmp_path / "chat.db"), "chat.db"):
        assert isinstance(await open_chat_view(url, views), ChatView), url
    with pytest.raises(ChatViewConfigError, match="scheme 'mysql'"):
        await open_chat_view("mysql://db/chat", views)
    with pytest.raises(ChatViewConfigError, match="schema name"):
        await open_chat_view(postgres_server().url, views, schema="Robert'); DROP TABLE")
    with pytest.raises(ChatViewConfigError, match="URL"):
        await open_chat_view("postgresql://[::1/x", views)


async def test_an_unreachable_postgres_fails_at_open_with_a_clear_error(views):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens once the socket closes
    with pytest.raises(ChatViewUnavailable, match=f"127.0.0.1:{port}/test"):
        await open_chat_view(f"postgresql://postgres@127.0.0.1:{port}/test", views)
