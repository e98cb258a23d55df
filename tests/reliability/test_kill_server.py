"""kill -9 of nats-server in the middle of 5,000 appends: nothing acknowledged is lost."""

import asyncio

from engine.log import Log
from engine.verify import verify_log
from events import ChapterRenamed, new_id

APPENDS = 5_000
KILL_AFTER = 2_000


async def test_acknowledged_appends_survive_kill_9_and_appends_resume(nats_server, nc):
    log = Log(nc, new_id(), unavailable_after=60)
    await log.create()
    acknowledged: list[tuple[int, bytes]] = []  # (rev, payload) of every append that returned
    halfway = asyncio.Event()

    async def writer() -> None:
        for i in range(APPENDS):
            stored = await log.append(ChapterRenamed(title=f"title {i}"), actor="u1")
            acknowledged.append((stored.rev, stored.payload))
            if len(acknowledged) == KILL_AFTER:
                halfway.set()

    # A follower (a projection, a direct-share guest) reads along the whole time.
    followed: list[int] = []

    async def follower() -> None:
        async for event in log.follow():
            followed.append(event.rev)
            if event.rev == APPENDS + 1:
                return

    writing = asyncio.create_task(writer())
    following = asyncio.create_task(follower())
    await asyncio.wait_for(halfway.wait(), 120)

    # Crash the server mid-stream (no clean shutdown), then bring it back on the same store
    # and port while the writer keeps trying.
    nats_server.kill()
    await asyncio.sleep(0.5)
    await nats_server.start()
    await asyncio.wait_for(writing, 180)

    # Every acknowledged append is there, in order, with its exact bytes; nothing else is.
    stored = [(e.rev, e.payload) async for e in log.read()]
    assert stored == acknowledged
    assert [rev for rev, _ in stored] == list(range(1, APPENDS + 1))
    titles = [e.envelope.body async for e in log.read()]
    assert titles == [ChapterRenamed(title=f"title {i}") for i in range(APPENDS)]
    report = await verify_log(log)
    assert report.ok and report.head_rev == APPENDS

    # Appends resume, and the follower, re-created after the restart, saw every revision once.
    assert (await log.append(ChapterRenamed(title="after"), actor="u1")).rev == APPENDS + 1
    await asyncio.wait_for(following, 30)
    assert followed == list(range(1, APPENDS + 2))
    await log.close()
