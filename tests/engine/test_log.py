"""Chapter logs on a real nats-server: appends, conflicts, de-duplication, limits, reads, follow."""

import asyncio
import os
import signal

import pytest

import engine.jetstream.wire
from engine.errors import (
    ChapterExists,
    ChapterNotFound,
    EventTooLarge,
    RevisionConflict,
)
from engine.log import BATCH_SIZE, EMPTY_HEAD, Log, Logs
from engine.nats import (
    HASH_HEADER,
    Header,
    chapter_stream,
    chapter_subject,
    open_nats,
)
from engine.verify import verify_log
from events import ChapterRenamed, MessagePosted, new_id


def renamed(n: int) -> ChapterRenamed:
    return ChapterRenamed(title=f"title {n}")


async def new_log(nc, **options) -> Log:
    log = Log(nc, new_id(), **options)
    await log.create()
    return log


async def test_append_assigns_consecutive_revisions_and_chains_hashes(shared_nc):
    log = await new_log(shared_nc)
    assert await log.head() == EMPTY_HEAD

    first = await log.append(renamed(1), actor="u1")
    second = await log.append(renamed(2), actor="u1")

    assert (first.rev, second.rev) == (1, 2)
    assert first.envelope.chapter == log.id and first.envelope.actor == "u1"
    assert first.envelope.body == renamed(1)
    head = await log.head()
    assert (head.rev, head.hash) == (2, second.hash)
    assert [e.payload async for e in log.read()] == [first.payload, second.payload]
    await log.close()


async def test_create_twice_is_refused_and_missing_logs_are_named(shared_nc):
    log = await new_log(shared_nc)
    with pytest.raises(ChapterExists):
        await Log(shared_nc, log.id).create()
    await Log(shared_nc, log.id).ensure()  # idempotent

    missing = Log(shared_nc, new_id())
    assert not await missing.exists()
    with pytest.raises(ChapterNotFound):
        await missing.append(renamed(1), actor="u1")
    with pytest.raises(ChapterNotFound):
        await missing.head()
    with pytest.raises(ChapterNotFound):
        [e async for e in missing.read()]
    await missing.close()
    await log.close()


async def test_append_with_stale_revision_is_rejected(shared_nc):
    log = await new_log(shared_nc)
    other_writer = Log(shared_nc, log.id)
    await log.append(renamed(1), actor="u1")
    await other_writer.append(renamed(2), actor="u2")

    # The caller decided at rev 1; the log is at rev 2: nothing is appended.
    with pytest.raises(RevisionConflict) as caught:
        await log.append(renamed(3), actor="u1", expected_rev=1)
    assert (caught.value.expected, caught.value.actual) == (1, 2)
    assert (await log.head()).rev == 2

    stored = await log.append(renamed(3), actor="u1", expected_rev=2)
    assert stored.rev == 3


async def test_ten_concurrent_writers_lose_no_update(shared_nc):
    # 10 writers, each its own Log object (as separate processes would be), 200 appends each.
    chapter = new_id()
    await Log(shared_nc, chapter).create()
    writers = [Log(shared_nc, chapter) for _ in range(10)]

    async def write(w: int) -> list[int]:
        return [(await writers[w].append(renamed(i), actor=f"writer-{w}")).rev for i in range(200)]

    revs = await asyncio.gather(*(write(w) for w in range(10)))

    await assert_ten_writers_log(shared_nc, chapter, revs)


async def test_ten_writers_on_ten_connections_lose_no_update(shared_nats_server):
    server = shared_nats_server
    conns = [await open_nats(server.url, server.user, server.password) for _ in range(10)]
    chapter = new_id()
    await Log(conns[0], chapter).create()

    async def write(w: int) -> list[int]:
        log = Log(conns[w], chapter)
        return [(await log.append(renamed(i), actor=f"writer-{w}")).rev for i in range(200)]

    revs = await asyncio.gather(*(write(w) for w in range(10)))

    await assert_ten_writers_log(conns[0], chapter, revs)
    for c in conns:
        await c.close()


async def assert_ten_writers_log(nc, chapter: str, revs: list[list[int]]) -> None:
    # Every acknowledged revision is distinct and they cover 1..2000 without a gap.
    assert sorted(r for w in revs for r in w) == list(range(1, 2001))
    log = Log(nc, chapter)
    events = [e async for e in log.read()]
    assert [e.rev for e in events] == list(range(1, 2001))
    envelopes = [e.envelope for e in events]
    assert [env.rev for env in envelopes] == list(range(1, 2001))
    for w in range(10):
        mine = [env for env in envelopes if env.actor == f"writer-{w}"]
        assert [env.body for env in mine] == [renamed(i) for i in range(200)]
        assert [env.rev for env in mine] == revs[w]
    report = await verify_log(log)
    assert report.ok and report.events == 2000 and report.head_rev == 2000
    await log.close()


async def test_a_publish_retried_with_the_same_event_id_is_stored_once(js, nc):
    # JetStream level: the same Nats-Msg-Id twice is one message.
    log = await new_log(nc)
    headers = {Header.MSG_ID.value: "01jretriedretriedretriedre", HASH_HEADER: "00" * 32}
    first = await js.publish(log.subject, b"payload", headers=dict(headers))
    again = await js.publish(log.subject, b"payload", headers=dict(headers))
    assert (first.seq, again.seq, again.duplicate) == (1, 1, True)
    assert (await js.stream_info(log.stream)).state.messages == 1
    await log.close()


async def test_append_whose_ack_is_lost_is_stored_once(nats_server, nc):
    # The server freezes mid-append: the ack never comes, the engine retries the same event.
    log = await new_log(nc, publish_timeout=0.4)
    os.kill(nats_server.pid, signal.SIGSTOP)
    try:
        appending = asyncio.create_task(log.append(renamed(1), actor="u1"))
        await asyncio.sleep(1.0)  # past the publish timeout: at least one retry is queued
    finally:
        os.kill(nats_server.pid, signal.SIGCONT)
    stored = await asyncio.wait_for(appending, 15)

    assert stored.rev == 1
    info = await nc.jetstream().stream_info(log.stream)
    assert info.state.messages == 1
    assert [e.payload async for e in log.read()] == [stored.payload]
    await log.close()


async def test_an_event_over_the_size_limit_appends_nothing(shared_nc):
    log = await new_log(shared_nc, max_event_bytes=4096)
    await log.append(renamed(1), actor="u1")
    big = MessagePosted(thread="t1", message="m1", role="user", text="x" * 5000)

    with pytest.raises(EventTooLarge) as caught:
        await log.append(big, actor="u1")
    assert caught.value.limit == 4096 and caught.value.size > 4096
    with pytest.raises(EventTooLarge):
        await log.append_many([renamed(2), big, renamed(3)], actor="u1")

    assert (await log.head()).rev == 1
    # The log goes on.
    assert (await log.append(renamed(2), actor="u1")).rev == 2
    await log.close()


async def test_append_many_is_durable_batched_and_verifiable(shared_nc):
    log = await new_log(shared_nc)
    await log.append(renamed(0), actor="u1")
    count = BATCH_SIZE * 2 + 7

    stored = await log.append_many([renamed(i) for i in range(count)], actor="proc:import")

    assert [e.rev for e in stored] == list(range(2, count + 2))
    assert [e.envelope.body for e in stored] == [renamed(i) for i in range(count)]
    read = [e async for e in log.read()]
    assert [(e.rev, e.hash, e.payload) for e in read[1:]] == [
        (e.rev, e.hash, e.payload) for e in stored
    ]
    assert (await verify_log(log)).ok
    await log.close()


async def test_append_many_after_another_writer_goes_on_after_it(shared_nc):
    log = await new_log(shared_nc)
    await log.append(renamed(0), actor="u1")  # `log` now caches head rev 1
    await Log(shared_nc, log.id).append(renamed(1), actor="u2")  # another writer: rev 2

    stored = await log.append_many([renamed(i) for i in range(2, 700)], actor="u1")

    assert stored[0].rev == 3 and stored[-1].rev == 700
    report = await verify_log(log)
    assert report.ok and report.head_rev == 700
    await log.close()


async def test_read_ranges_and_get(shared_nc):
    log = await new_log(shared_nc)
    stored = await log.append_many([renamed(i) for i in range(50)], actor="u1")

    assert [e.rev async for e in log.read(after=10, until=20)] == list(range(11, 21))
    assert [e.rev async for e in log.read(after=45)] == [46, 47, 48, 49, 50]
    assert [e.rev async for e in log.read(after=50)] == []
    assert [e.rev async for e in log.read(after=60)] == []
    assert [e.rev async for e in log.read(until=3)] == [1, 2, 3]
    got = await log.get(7)
    assert got is not None and (got.rev, got.hash, got.payload) == (
        stored[6].rev,
        stored[6].hash,
        stored[6].payload,
    )
    assert await log.get(51) is None
    await log.close()


async def test_follow_catches_up_then_delivers_new_events(shared_nc):
    async with Logs(shared_nc) as logs:
        log = logs.chapter(new_id())
        await log.create()
        await log.append_many([renamed(i) for i in range(3)], actor="u1")
        seen: list[int] = []

        async def follow() -> None:
            async for event in log.follow(after=1):
                seen.append(event.rev)
                if event.rev == 6:
                    return

        task = asyncio.create_task(follow())
        await asyncio.sleep(0.2)
        for i in range(3):
            await log.append(renamed(10 + i), actor="u2")
        await asyncio.wait_for(task, 10)
        assert seen == [2, 3, 4, 5, 6]


async def test_logs_registry_hands_out_one_writer_per_log(shared_nc):
    async with Logs(shared_nc) as logs:
        chapter, book = new_id(), new_id()
        assert logs.chapter(chapter) is logs.chapter(chapter)
        assert logs.book(book).stream == f"RS_BK_{book}"
        assert logs.chapter(chapter).stream == chapter_stream(chapter)
        assert logs.chapter(chapter).subject == chapter_subject(chapter)
        assert logs.book(book) is not logs.chapter(book)


async def test_log_ids_must_be_safe_in_subjects(shared_nc):
    with pytest.raises(ValueError):
        Log(shared_nc, "a.b")
    with pytest.raises(ValueError):
        Log(shared_nc, "x", kind="shelf")  # type: ignore[arg-type]


async def test_a_slow_reader_holds_the_server_back_and_still_reads_everything(
    shared_nc, monkeypatch
):
    # A reader that lags holds back its flow-control answers: the server pauses instead of
    # filling our memory. Shrink the allowance so that a few MB of events exercise it.
    monkeypatch.setattr(engine.jetstream.wire, "MAX_QUEUED_BYTES", 32 * 1024)
    log = await new_log(shared_nc)
    bodies = [ChapterRenamed(title=f"{i:06d}" + "x" * 1500) for i in range(3000)]
    await log.append_many(bodies, actor="u1")

    async def read_slowly() -> list[int]:
        revs = []
        async for batch in log.read_batches():
            revs += [e.rev for e in batch]
            await asyncio.sleep(0.002)
        return revs

    assert await asyncio.wait_for(read_slowly(), 60) == list(range(1, 3001))
    await log.close()
