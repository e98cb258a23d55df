"""Following a direct share's protocol (client/follow.py) against a real nats-server: catch-up by
Direct Get `{"seq": n}`, then the stream's republish on `rs.live.<chapter>` with `Nats-Sequence`
and `Rs-Hash`, every event chain-checked before it is applied.

The stream is set up here as the direct-share design says the engine sets it up (allow_direct,
republish), and read with the engine's own user: the guest's restricted account is the server
side's to test (engine/guests.py, not in this branch); this checks the reading side.
"""

from __future__ import annotations

import asyncio

import pytest
from nats.js.api import RePublish, StreamConfig
from test_replica import CHAPTER, OWLS, SHARE, FakeOwner, _blob, _chain, _direct_bodies

from client.follow import Following, follow_direct
from client.models_shares import NatsCredentials, ShareConnection
from client.replica import Replica
from client.replica_rows import ChainBroken
from events import SourceRemoved

STREAM, SUBJECT, LIVE = f"RS_CH_{CHAPTER}", f"rs.ch.{CHAPTER}", f"rs.live.{CHAPTER}"


async def test_catch_up_then_live_and_a_broken_live_event_is_refused(nats_server, nc, js, tmp_path):
    await js.add_stream(
        StreamConfig(name=STREAM, subjects=[SUBJECT], allow_direct=True,
                     republish=RePublish(src=SUBJECT, dest=LIVE))
    )  # fmt: skip
    events = _chain([*_direct_bodies(), SourceRemoved(source="s2"), SourceRemoved(source="s1")])

    async def publish(event, digest=None) -> None:
        await js.publish(SUBJECT, event.payload, headers={"Rs-Hash": (digest or event.hash).hex()})

    for event in events[:3]:
        await publish(event)
    owner = FakeOwner()
    owner.text(OWLS)
    conn = ShareConnection(
        share=SHARE, chapter=CHAPTER, title="Birds", mode="direct", scope=["sources"],
        stream=STREAM, subject=SUBJECT,  # as connect answers: where events are stored
        nats=NatsCredentials(url=nats_server.url, user=nats_server.user,
                             password=nats_server.password, inbox_prefix="_INBOX_guest"),
    )  # fmt: skip

    async with await Replica.open(tmp_path / "r") as replica, owner.guest() as guest:
        await replica.bind(share=SHARE, chapter=CHAPTER, mode="direct", title="",
                           server="http://owner.test", scope=["sources"])  # fmt: skip
        # Catch-up: the three stored events, verified and applied.
        synced = await follow_direct(Following(guest=guest, conn=conn, replica=replica, once=True))
        assert (synced.rev, replica.head) == (3, events[2].hash.hex())
        assert await replica.text("s1") == OWLS and replica.meta["title"] == "Birds"

        # Live: appends arrive through the republish; a gap is read by Direct Get.
        following = asyncio.create_task(
            follow_direct(Following(guest=guest, conn=conn, replica=replica))
        )
        await asyncio.sleep(0.3)
        await publish(events[3])
        await publish(events[4])
        for _ in range(100):
            if replica.rev == 5:
                break
            await asyncio.sleep(0.05)
        assert replica.rev == 5 and [s.id for s in await replica.sources()] == ["s1"]

        # A stored event whose Rs-Hash is not the chain's: refused, naming its rev.
        await publish(events[5], digest=b"\x01" * 32)
        with pytest.raises(ChainBroken, match="rev 6"):
            await asyncio.wait_for(following, 10)
        assert replica.rev == 5
        assert _blob(OWLS) in owner.blobs
