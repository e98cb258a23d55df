"""The chapter fold: its rules on their own, and the read models that drive them agreeing with it."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import psycopg
import pytest
from psycopg import sql

from events import (
    ChapterCreated,
    ChapterRenamed,
    ChunkRef,
    Citation,
    Envelope,
    Event,
    MessagePosted,
    ShareGranted,
    ShareRevoked,
    SourceAdded,
    SourceEdited,
    SourceExtracted,
    SourceRejected,
    SourceRemoved,
    SourceRetagged,
    ThreadStarted,
    TokenUsage,
)
from projections.catalogue import Catalogue
from projections.chat import ChatView, open_chat_view
from projections.chat_postgres import PostgresChatView
from projections.fold import ChapterFold, message_posted, thread_started
from projections.store import Views

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
CHAPTER = "01HFOLDCHAPTER000000000000"
T0 = 1_700_000_000_000


def envelopes(*steps: tuple[Event, str, int]) -> list[Envelope]:
    """(body, actor, ms since the previous event) → the chapter's envelopes, revs from 1."""
    found, at = [], T0
    for rev, (body, actor, step) in enumerate(steps, start=1):
        at += step
        found.append(
            Envelope(id=f"{rev:026d}", chapter=CHAPTER, rev=rev, at=at, actor=actor, body=body)
        )
    return found


def edge_cases() -> list[Envelope]:
    """A chapter's life that goes through every corner the rules speak of."""

    def added(source: str, name: str, tags: list[str] = []) -> SourceAdded:  # noqa: B006
        return SourceAdded(
            source=source, name=name, media_type="text/plain", blob=source[-1] * 64, size=3,
            tags=tags,
        )  # fmt: skip

    def extracted(source: str, media_type: str = "") -> SourceExtracted:
        return SourceExtracted(
            source=source, text_blob="c" * 64, extractor="txt", extractor_version="1",
            media_type=media_type, chunks=[ChunkRef(hash="d" * 64, start=0, end=5)],
        )  # fmt: skip

    answer = MessagePosted(
        thread="t1", message="m2", role="assistant", text="It says so [1].",
        citations=[Citation(source="s1", chunk="d" * 64, start=0, end=5, page=2, heading="H")],
        answered_at_rev=4, model="extractive", usage=TokenUsage(prompt=30, completion=7),
    )  # fmt: skip
    return envelopes(
        (ChapterCreated(book="b1", title="Notes"), "u1", 1000),
        (added("s1", "a.txt", ["b", "a", "b"]), "u1", 1000),
        (added("s2", "b.txt"), "u1", 1000),
        (extracted("s1", "text/markdown"), "proc:ingest", 1000),
        (SourceRejected(source="s2", code="empty", message="no text"), "proc:ingest", 1000),
        # Removed, then retagged (applies) and extracted (does not bring it back).
        (SourceRemoved(source="s2"), "u1", 1000),
        (SourceRetagged(source="s2", tags=["late"]), "u1", 1000),
        (extracted("s2"), "proc:ingest", 1000),
        (SourceEdited(source="s1", base_text="c" * 64, patch=b"", new_text="e" * 64), "u1", 1000),
        # A re-added id starts afresh and lists last.
        (added("s1", "a2.txt"), "u1", 1000),
        (added("s3", "c.txt"), "u1", 1000),
        (SourceRetagged(source="ghost", tags=["x"]), "u1", 1000),
        (ChapterRenamed(title="Notes 2"), "u1", 1000),
        # A message before its thread's ThreadStarted: the thread opens untitled, then is titled.
        (MessagePosted(thread="t1", message="m1", role="user", text="Does it?"), "u2", 1000),
        (ThreadStarted(thread="t1", title="Question"), "u3", 1000),
        (answer, "proc:chat", -5000),  # stamped before the thread began: last_at stays put
        (answer, "proc:chat", 1000),  # the same id again: counted once
        (ThreadStarted(thread="t2", title="Second"), "u1", 1000),
        (MessagePosted(thread="t3", message="m1", role="user", text="moved?"), "u1", 1000),
        (MessagePosted(thread="t2", message="m3", role="user", text="later"), "u1", 40_000),
        (MessagePosted(thread="t2", message="m4", role="user", text="earlier"), "u1", -20_000),
        (ShareGranted(share="sh1", mode="copy", grantee="g@example.org"), "u1", 1000),
        (ShareGranted(share="sh2", mode="direct", grantee="h@example.org"), "u1", 1000),
        (ShareRevoked(share="sh1"), "u1", 1000),
        (SourceRemoved(source="s3"), "u1", 1000),
    )


def test_the_rules_on_their_own():
    fold = ChapterFold(CHAPTER)
    for e in edge_cases():
        fold.apply(e)
    sources = fold.sources
    assert list(sources) == ["s2", "s1", "s3"]
    assert (sources["s1"].name, sources["s1"].status, sources["s1"].text_blob) == (
        "a2.txt", "pending", None,
    )  # fmt: skip
    assert (sources["s2"].status, sources["s2"].tags, sources["s2"].code) == (
        "removed", ["late"], "empty",
    )  # fmt: skip
    assert fold.identity is not None and fold.identity.title == "Notes 2"
    t1, t2, t3 = fold.threads["t1"], fold.threads["t2"], fold.threads["t3"]
    assert (t1.title, t1.actor, t1.created_rev, t1.message_count) == ("Question", "u2", 14, 2)
    assert t1.last_at == t1.created_at  # the answer was stamped before the thread's start
    assert (t2.message_count, t2.last_at) == (2, fold.messages["m3"].at)
    assert (t3.title, t3.message_count) == ("", 0)  # its only message's id was taken
    assert list(fold.messages) == ["m1", "m2", "m3", "m4"]
    assert fold.messages["m2"].citations[0].span.page == 2
    assert list(fold.shares) == ["sh2"]
    assert fold.rev == len(edge_cases())


def test_a_seen_message_changes_nothing_but_may_open_its_thread():
    [started, posted] = envelopes(
        (ThreadStarted(thread="t", title="T"), "u", 1000),
        (MessagePosted(thread="t", message="m", role="user", text="hi"), "u", 1000),
    )
    thread = thread_started(None, started, started.body)
    assert message_posted(thread, posted, posted.body, seen=True) == (thread, None)
    opened, message = message_posted(None, posted, posted.body, seen=True)
    assert (opened.title, opened.message_count, message) == ("", 0, None)


# -- the read models agree with the fold -------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
async def chat(request, views: Views) -> AsyncIterator[ChatView | PostgresChatView]:
    schema = f"rs_fold_{secrets.token_hex(6)}"
    view = await open_chat_view(None if request.param == "sqlite" else PG_URL, views, schema=schema)
    yield view
    if isinstance(view, PostgresChatView):
        await view.close()
        async with await psycopg.AsyncConnection.connect(PG_URL, autocommit=True) as conn:
            await conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.mark.parametrize("batch", [1, 4, 100])
async def test_the_catalogue_and_the_chat_view_hold_what_the_fold_holds(views, chat, batch):
    events = edge_cases()
    catalogue = Catalogue(views)
    await catalogue.open()
    for i in range(0, len(events), batch):
        await catalogue.apply(CHAPTER, events[i : i + batch])
        await chat.apply(CHAPTER, events[i : i + batch])
    fold = ChapterFold(CHAPTER)
    for e in events:
        fold.apply(e)

    assert await catalogue.sources(CHAPTER, include_removed=True) == list(fold.sources.values())
    assert await catalogue.chapter(CHAPTER) == fold.identity
    threads = await chat.threads(CHAPTER)
    assert threads == sorted(fold.threads.values(), key=lambda t: t.id, reverse=True)
    for thread in threads:
        assert await chat.messages(CHAPTER, thread.id) == [
            m for m in fold.messages.values() if m.thread == thread.id
        ]
