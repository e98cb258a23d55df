"""Verification names the exact revision where a copy or a stream was tampered with."""

import pytest

from engine.errors import ChainBroken
from engine.log import GENESIS, Log
from engine.nats import HASH_HEADER
from engine.verify import verify_events, verify_log
from events import ChapterRenamed, Envelope, RecordedEvent, decode, encode, new_id
from rust_core import chain_fold

BAD = 13


async def chapter_with_events(nc, count: int = 30) -> tuple[Log, list[RecordedEvent]]:
    log = Log(nc, new_id())
    await log.create()
    await log.append_many([ChapterRenamed(title=f"title {i}") for i in range(count)], actor="u1")
    return log, [e async for e in log.read()]


def flip_byte(event: RecordedEvent) -> RecordedEvent:
    payload = bytearray(event.payload)
    payload[len(payload) // 2] ^= 0x01
    return RecordedEvent(rev=event.rev, hash=event.hash, payload=bytes(payload))


async def test_an_untouched_copy_verifies(shared_nc):
    log, events = await chapter_with_events(shared_nc)
    report = verify_events(log.id, events)
    assert report.ok and report.events == 30
    assert (report.head_rev, report.head_hash) == (30, events[-1].hash)
    assert report.first_bad_rev is None and report.reason is None
    # A copy that starts mid-way verifies from the hash before it.
    assert verify_events(log.id, events[10:], prev=events[9].hash, start_rev=11).ok
    await log.close()


async def test_tampered_copies_name_the_exact_revision(shared_nc):
    log, events = await chapter_with_events(shared_nc)
    other, foreign = await chapter_with_events(shared_nc, count=20)
    i = BAD - 1
    tampered = {
        "one byte flipped": [*events[:i], flip_byte(events[i]), *events[i + 1 :]],
        "one event dropped": events[:i] + events[i + 1 :],
        "two events swapped": [
            *events[:i],
            events[20],
            *events[i + 1 : 20],
            events[i],
            *events[21:],
        ],
        "one spliced in": [*events[:i], foreign[i], *events[i:]],
        "one replaced": [*events[:i], foreign[i], *events[i + 1 :]],
        "a stored hash altered": [
            *events[:i],
            RecordedEvent(rev=BAD, hash=bytes(32), payload=events[i].payload),
            *events[i + 1 :],
        ],
    }
    for what, copy in tampered.items():
        report = verify_events(log.id, copy)
        assert not report.ok, what
        assert report.first_bad_rev == BAD, (what, report)
        assert (report.events, report.head_rev, report.head_hash) == (
            BAD - 1,
            BAD - 1,
            events[BAD - 2].hash,
        ), what
        assert report.reason
    await log.close()
    await other.close()


async def test_a_spliced_event_is_caught_even_when_the_chain_is_recomputed(shared_nc):
    # A forger who re-hashes the whole chain still cannot pass off another chapter's event,
    # nor hide a dropped one: each envelope names its chapter and its revision.
    log, events = await chapter_with_events(shared_nc)
    other, foreign = await chapter_with_events(shared_nc, count=20)
    i = BAD - 1
    for payloads, reason in [
        (
            [e.payload for e in events[:i]]
            + [foreign[i].payload]
            + [e.payload for e in events[i + 1 :]],
            "belongs to",
        ),
        (
            [e.payload for e in events[:i]] + [e.payload for e in events[i + 1 :]],
            "was written for rev 14",
        ),
    ]:
        rechained = [
            RecordedEvent(rev=n, hash=h, payload=p)
            for n, (p, h) in enumerate(zip(payloads, chain_fold(GENESIS, payloads), strict=True), 1)
        ]
        report = verify_events(log.id, rechained)
        assert report.first_bad_rev == BAD and reason in (report.reason or "")
    await log.close()
    await other.close()


async def copy_stream(nc, source: Log, payloads: list[bytes], hashes: list[bytes]) -> Log:
    """A second stream holding (altered) copies of `source`'s messages, headers included."""
    copy = Log(nc, new_id())
    await copy.create()
    js = nc.jetstream()
    for payload, digest in zip(payloads, hashes, strict=True):
        await js.publish(copy.subject, payload, headers={HASH_HEADER: digest.hex()})
    return copy


async def test_a_tampered_stream_is_caught_by_verify_log_and_by_reads(shared_nc):
    log, events = await chapter_with_events(shared_nc)
    payloads, hashes = [e.payload for e in events], [e.hash for e in events]

    honest = await copy_stream(shared_nc, log, payloads, hashes)
    assert (await verify_log(honest, chapter=log.id)).ok
    assert (await verify_log(honest)).first_bad_rev == 1  # its envelopes name another chapter

    payloads[BAD - 1] = flip_byte(events[BAD - 1]).payload
    forged = await copy_stream(shared_nc, log, payloads, hashes)
    report = await verify_log(forged, chapter=log.id)
    assert (report.ok, report.first_bad_rev, report.head_rev) == (False, BAD, BAD - 1)
    with pytest.raises(ChainBroken) as caught:
        [e async for e in forged.read()]
    assert caught.value.rev == BAD
    # Reading only before the damage is fine; reading across it is not.
    assert len([e async for e in forged.read(until=BAD - 1)]) == BAD - 1
    with pytest.raises(ChainBroken):
        [e async for e in forged.read(after=BAD - 3)]

    # Re-encoding an envelope with another revision is caught at its position too.
    env = decode(events[4].payload)
    payloads = [e.payload for e in events]
    payloads[4] = encode(
        Envelope(**{**{f: getattr(env, f) for f in env.__struct_fields__}, "rev": 99})
    )
    rehashed = chain_fold(GENESIS, payloads)
    shifted = await copy_stream(shared_nc, log, payloads, rehashed)
    report = await verify_log(shifted, chapter=log.id)
    assert report.first_bad_rev == 5 and "rev 99" in (report.reason or "")

    for each in (log, honest, forged, shifted):
        await each.close()


async def test_an_empty_log_verifies(shared_nc):
    log = Log(shared_nc, new_id())
    await log.create()
    report = await verify_log(log)
    assert (report.ok, report.events, report.head_rev, report.head_hash) == (True, 0, 0, GENESIS)
    await log.close()


async def test_messages_without_headers_or_payload_are_named_not_skipped(shared_nc):
    # Messages someone published around the engine: one without any header, one empty.
    log, events = await chapter_with_events(shared_nc, count=10)
    for bad_rev, payload, headers in [
        (4, events[3].payload, None),
        (6, b"", {HASH_HEADER: events[5].hash.hex()}),
    ]:
        copy = Log(shared_nc, new_id())
        await copy.create()
        js = shared_nc.jetstream()
        for e in events:
            if e.rev == bad_rev:
                await js.publish(copy.subject, payload, headers=headers)
            else:
                await js.publish(copy.subject, e.payload, headers={HASH_HEADER: e.hash.hex()})
        report = await verify_log(copy, chapter=log.id)
        assert (report.ok, report.first_bad_rev) == (False, bad_rev)
        with pytest.raises(ChainBroken) as caught:
            [e async for e in copy.read()]
        assert caught.value.rev == bad_rev
        await copy.close()
    await log.close()
