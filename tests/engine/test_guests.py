"""Direct guests: a share's credentials read its chapter live, and nothing else, until revoked.

Each test runs its own nats-server (the guests are users of that server) and stays within
seconds: a refused request is given one second to (not) answer.
"""

from __future__ import annotations

import asyncio
import json
import time

import nats.errors
import pytest
from nats.js.api import StreamConfig

from engine.errors import ChainBroken
from engine.guests import GuestUsers
from engine.jetstream.guest import AccessRevoked, follow_direct
from engine.log import Log
from engine.nats import (
    HASH_HEADER,
    JS_API,
    chapter_live_subject,
    chapter_stream,
    chapter_subject,
    open_nats,
)
from engine.server import EmbeddedServer
from engine.server_config import parse_listen
from events import ChapterRenamed, new_id


async def _chapter(nc, events: int = 3) -> Log:
    log = Log(nc, new_id())
    await log.create()
    if events:
        await log.append_many([ChapterRenamed(title=f"t{i}") for i in range(events)], actor="o")
    return log


@pytest.fixture
async def shared(nc):
    """The chapter a guest is granted: three events."""
    log = await _chapter(nc)
    yield log
    await log.close()


async def _take(reader, n: int, within: float = 5.0) -> list:
    got = []
    async with asyncio.timeout(within):
        async for event in reader:
            got.append(event)
            if len(got) == n:
                return got
    return got


async def test_a_guest_catches_up_then_sees_a_live_append_within_milliseconds(nats_server, nc):
    shared = await _chapter(nc, 5)
    grant = await GuestUsers(nats_server, nc).grant(new_id(), shared.id)
    reader = follow_direct(grant, shared.id)

    caught_up = await _take(reader, 5)
    appended_at = time.monotonic()
    await shared.append(ChapterRenamed(title="live"), actor="o")
    (live,) = await _take(reader, 1)
    assert time.monotonic() - appended_at < 0.5
    stored = [e async for e in shared.read()]
    assert [*caught_up, live] == stored
    await reader.aclose()

    # From a later position, with the follower's own head hash, without following.
    rest = [
        e async for e in follow_direct(grant, shared.id, after=4, prev=stored[3].hash, follow=False)
    ]
    assert rest == stored[4:]
    await shared.close()


async def test_a_guest_is_refused_everything_but_its_chapter(nats_server, nc):
    shared, other = await _chapter(nc), await _chapter(nc)
    grant = await GuestUsers(nats_server, nc).grant(new_id(), shared.id)
    refusals: list[str] = []

    async def on_error(exc: Exception) -> None:
        refusals.append(str(exc))

    gc = await open_nats(
        grant.url, grant.user, grant.password, inbox_prefix=grant.inbox_prefix, error_cb=on_error
    )
    overheard: list[str] = []

    async def overhear(msg) -> None:
        overheard.append(msg.subject)

    # Subscriptions to anything but its live subject and inbox see nothing.
    for subject in (chapter_live_subject(other.id), "_INBOX.>", ">", chapter_subject(shared.id)):
        await gc.subscribe(subject, cb=overhear)

    other_stream, shared_stream = chapter_stream(other.id), chapter_stream(shared.id)
    unanswered = [
        # another chapter's stream
        (f"{JS_API}.DIRECT.GET.{other_stream}", {"seq": 1}),
        (f"{JS_API}.STREAM.MSG.GET.{other_stream}", {"seq": 1}),
        (f"{JS_API}.STREAM.INFO.{other_stream}", {}),
        (f"{JS_API}.STREAM.INFO.{shared_stream}", {}),
        # any consumer: ephemeral, durable, push delivering elsewhere
        (f"{JS_API}.CONSUMER.CREATE.{shared_stream}", {"config": {"ack_policy": "none"}}),
        (f"{JS_API}.CONSUMER.CREATE.{shared_stream}.d1", {"config": {"durable_name": "d1"}}),
        (
            f"{JS_API}.CONSUMER.DURABLE.CREATE.{shared_stream}.d2",
            {"config": {"durable_name": "d2"}},
        ),
        (
            f"{JS_API}.CONSUMER.CREATE.{shared_stream}",
            {"config": {"deliver_subject": chapter_subject(other.id)}},
        ),
        # listing and administration
        (f"{JS_API}.STREAM.NAMES", {}),
        (f"{JS_API}.STREAM.LIST", {}),
        (f"{JS_API}.STREAM.CREATE.x", {"name": "x", "subjects": ["x"]}),
        (f"{JS_API}.INFO", {}),
        # publishing on a stream subject
        (chapter_subject(shared.id), {}),
        (chapter_subject(other.id), {}),
    ]
    for subject, body in unanswered:
        with pytest.raises((nats.errors.TimeoutError, nats.errors.NoRespondersError)):
            await gc.request(subject, json.dumps(body).encode(), timeout=1)

    # A reply subject is the requester's choice: naming another chapter's stream subject must
    # not make the server store the answer there (it stays in the guest's own account).
    for reply in (chapter_subject(other.id), chapter_live_subject(other.id), "_INBOX.engine"):
        await gc.publish(
            f"{JS_API}.DIRECT.GET.{shared_stream}", json.dumps({"seq": 1}).encode(), reply=reply
        )
    await gc.flush()
    await other.append(ChapterRenamed(title="private"), actor="o")
    await nc.publish("_INBOX.engine", b"private")
    await asyncio.sleep(0.3)

    assert overheard == []
    assert (await other.head()).rev == 4 and (await shared.head()).rev == 3
    assert (await nc.jetstream().stream_info(shared_stream)).state.consumer_count == 0
    assert any("permissions violation" in r.lower() for r in refusals)
    await gc.close()
    for log in (shared, other):
        await log.close()


async def test_revocation_ends_an_open_reader_and_refuses_a_new_one(nats_server, nc, shared):
    guests = GuestUsers(nats_server, nc)
    share = new_id()
    grant = await guests.grant(share, shared.id)
    reader = follow_direct(grant, shared.id)
    assert len(await _take(reader, 3)) == 3

    await guests.revoke(share)
    with pytest.raises(AccessRevoked):
        await _take(reader, 1)
    with pytest.raises(AccessRevoked):
        await _take(follow_direct(grant, shared.id, connect_timeout=3), 1)


async def test_a_new_grant_replaces_the_old_credentials(nats_server, nc, shared):
    guests = GuestUsers(nats_server, nc)
    share = new_id()
    first = await guests.grant(share, shared.id)
    second = await guests.grant(share, shared.id)
    assert first.password != second.password and first.user == second.user
    with pytest.raises(AccessRevoked):
        await _take(follow_direct(first, shared.id, connect_timeout=3), 1)
    assert len(await _take(follow_direct(second, shared.id), 3)) == 3


async def test_a_tampered_event_is_refused_naming_its_rev(nats_server, nc, shared):
    grant = await GuestUsers(nats_server, nc).grant(new_id(), shared.id)
    reader = follow_direct(grant, shared.id)
    good = await _take(reader, 3)

    # Someone with the engine's credentials stores a forged event: rev 4 with a made-up hash.
    await nc.jetstream().publish(
        chapter_subject(shared.id), good[0].payload, headers={HASH_HEADER: "ab" * 32}
    )
    with pytest.raises(ChainBroken) as refused:
        await _take(reader, 1)
    assert refused.value.rev == 4
    # A new reader refuses it too, after the good events.
    fresh = follow_direct(grant, shared.id, follow=False)
    seen = []
    with pytest.raises(ChainBroken, match="revision 4"):
        async for event in fresh:
            seen.append(event)
    assert seen == good


async def test_a_reader_survives_the_owner_server_restarting(nats_server, nc, shared):
    grant = await GuestUsers(nats_server, nc).grant(new_id(), shared.id)
    reader = follow_direct(grant, shared.id, idle_check_s=0.5)
    assert len(await _take(reader, 3)) == 3

    await nats_server.stop()
    await nats_server.start()
    await shared.append_many(
        [ChapterRenamed(title="after"), ChapterRenamed(title="restart")], actor="o"
    )
    later = await _take(reader, 2, within=15)
    assert [e.rev for e in later] == [4, 5]
    await reader.aclose()


async def test_an_older_stream_gets_the_live_republish_when_ensured(nats_server, nc):
    chapter = new_id()
    js = nc.jetstream()
    await js.add_stream(
        StreamConfig(
            name=chapter_stream(chapter), subjects=[chapter_subject(chapter)], deny_delete=True
        )
    )
    log = Log(nc, chapter)
    await log.ensure()
    config = (await js.stream_info(chapter_stream(chapter))).config
    assert config.allow_direct and config.republish is not None
    assert config.republish.dest == chapter_live_subject(chapter)
    await log.close()


async def test_streams_written_before_accounts_are_kept(tmp_path):
    # An older server kept the streams in the global account's directory.
    server = EmbeddedServer(tmp_path / "nats")
    await server.start()
    nc = await open_nats(server.url, server.user, server.password)
    log = await _chapter(nc)
    await log.close()
    await nc.close()
    await server.stop()
    jetstream = server.store_dir / "jetstream"
    (jetstream / "RAGSTACK").rename(jetstream / "$G")

    await server.start()
    nc = await open_nats(server.url, server.user, server.password)
    assert (await Log(nc, log.id).head()).rev == 3
    await nc.close()
    await server.stop()


def test_the_listen_setting():
    assert parse_listen(None) == ("127.0.0.1", None)
    assert parse_listen("0.0.0.0:4222") == ("0.0.0.0", 4222)
    assert parse_listen(":4300") == ("127.0.0.1", 4300)
    assert parse_listen("[::1]:4222") == ("::1", 4222)
    with pytest.raises(ValueError):
        parse_listen("host:port")
