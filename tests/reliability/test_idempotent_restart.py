"""A client's retried write meets its first attempt across a kill -9 of nats-server: JetStream
rebuilds its table of message ids from the store, within the duplicate window."""

from engine.jetstream.idempotency import idempotent
from engine.jetstream.streams import DUPLICATE_WINDOW_S
from engine.log import Log
from events import ChapterRenamed, new_id


async def test_a_keyed_append_retried_after_a_crash_is_stored_once(nats_server, nc):
    log = Log(nc, new_id(), unavailable_after=60)
    await log.create()
    with idempotent("retry-after-crash-1"):
        first = await log.append(ChapterRenamed(title="once"), actor="u1")
    await log.append(ChapterRenamed(title="someone else's"), actor="u2")

    nats_server.kill()
    await nats_server.start()

    with idempotent("retry-after-crash-1"):  # the retry: same key, same actor, new event id
        again = await log.append(ChapterRenamed(title="once"), actor="u1")
    assert (again.rev, again.hash, again.payload) == (first.rev, first.hash, first.payload)
    assert [e.rev async for e in log.read()] == [1, 2]
    # The writer's head was not fooled by the duplicate: the next append lands at 3.
    assert (await log.append(ChapterRenamed(title="next"), actor="u1")).rev == 3
    info = await log.js.stream_info(log.stream)
    assert info.config.duplicate_window == DUPLICATE_WINDOW_S
    await log.close()


async def test_the_same_key_from_another_actor_or_a_second_append_is_a_new_write(nats_server, nc):
    log = Log(nc, new_id())
    await log.create()
    with idempotent("shared-key-0001"):
        a = await log.append(ChapterRenamed(title="a"), actor="u1")
        a2 = await log.append(ChapterRenamed(title="a2"), actor="u1")  # the request's 2nd append
    with idempotent("shared-key-0001"):
        b = await log.append(ChapterRenamed(title="b"), actor="u2")
    assert [a.rev, a2.rev, b.rev] == [1, 2, 3]
    await log.close()
