"""Bulk appends: JetStream atomic batches (nats-server >= 2.12, ADR-50), durable and fast.

With `sync_interval: always` every commit is an fsync; a batch of up to 500 events shares one,
which is how an import stays both durable and fast. Each batch is all-or-nothing, and carries
`Nats-Expected-Last-Sequence` on its first message (the only place the server allows it), so a
batch lands exactly after the head it was hashed against or not at all.

Only one batch is in flight at a time. A batch sent before the previous one is acknowledged
could be committed after that one failed, if another writer happened to append exactly as many
events in between: its expectation would hold while its hashes chain onto events that are not
there. Instead the next batch is *prepared* (hashed and framed) while the server commits the
current one, which overlaps our CPU with the server's fsync.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

from engine.errors import LogError, LogUnavailable
from engine.nats import ERR_WRONG_LAST_SEQUENCE, HASH_HEADER, Header, stream_info
from events import RecordedEvent, new_id
from rust_core import chain_fold

if TYPE_CHECKING:
    from engine.log import Head, Log

BATCH_SIZE = 500
"""Events per atomic batch (the server allows up to 1,000)."""
ERR_BATCH_DISABLED = 10174
"""JetStream err_code: the stream does not allow atomic batches."""

_HASH = HASH_HEADER.encode()
_EXPECTED = Header.EXPECTED_LAST_SEQUENCE.value.encode()
_BATCH_ID = Header.BATCH_ID.value.encode()
_BATCH_SEQ = Header.BATCH_SEQUENCE.value.encode()
_BATCH_COMMIT = Header.BATCH_COMMIT.value.encode()


class _Prepared:
    """One batch, hashed after `tip` and framed for the wire."""

    def __init__(self, tip: Head, payloads: list[bytes], start: int) -> None:
        self.start = start
        hashes = chain_fold(tip.hash, payloads)
        self.events = [
            RecordedEvent(rev=tip.rev + 1 + i, hash=h, payload=p)
            for i, (p, h) in enumerate(zip(payloads, hashes, strict=True))
        ]
        batch_id = new_id().encode()
        last = len(payloads)
        self.messages: list[tuple[bytes, bytes]] = []
        for n, event in enumerate(self.events, 1):
            header = b"NATS/1.0\r\n%s: %s\r\n%s: %s\r\n%s: %d\r\n" % (
                _HASH,
                event.hash.hex().encode(),
                _BATCH_ID,
                batch_id,
                _BATCH_SEQ,
                n,
            )
            if n == 1:
                header += b"%s: %d\r\n" % (_EXPECTED, event.rev - 1)
            if n == last:
                header += b"%s: 1\r\n" % _BATCH_COMMIT
            self.messages.append((header + b"\r\n", event.payload))

    @property
    def tip(self) -> tuple[int, bytes]:
        return self.events[-1].rev, self.events[-1].hash


async def publish_batches(
    log: Log, head: Head, ids: list[str], payloads: list[bytes], done: list[RecordedEvent]
) -> tuple[Head, bool]:
    """Publish `payloads[len(done):]` (encoded for the revisions after `head`) batch by batch,
    appending what was stored to `done`. Returns the new head and whether the stream takes
    atomic batches at all; stops early at a conflict. Raises `LogUnavailable` when a batch's
    outcome cannot be known."""
    from engine.log import Head

    wire = log.wire()
    nxt: _Prepared | None = _Prepared(head, payloads[len(done) : len(done) + BATCH_SIZE], len(done))
    while nxt is not None:
        batch = nxt
        reply = await wire.send_batch(log.subject, batch.messages)
        end = batch.start + len(batch.events)
        rev, digest = batch.tip
        # Hash and frame the next batch while the server stores this one.
        nxt = None
        if end < len(payloads):
            nxt = _Prepared(Head(rev=rev, hash=digest), payloads[end : end + BATCH_SIZE], end)
        try:
            ack = await _ack(log, reply)
        except LogUnavailable:
            # The commit may have been stored with its ack lost: look before giving up.
            if await log.stored_id(batch.events[0].rev) != ids[batch.start]:
                raise
        else:
            error = ack.get("error")
            if error is not None:
                code = error.get("err_code")
                if code == ERR_WRONG_LAST_SEQUENCE:
                    return head, True
                if code == ERR_BATCH_DISABLED:
                    return head, False
                raise LogError(f"JetStream refused a batch for {log.stream}: {error}")
            if int(ack.get("seq", 0)) != rev:
                raise LogError(f"{log.stream} committed a batch at {ack.get('seq')}, not {rev}")
        done.extend(batch.events)
        head = Head(rev=rev, hash=digest)
    return head, True


async def _ack(log: Log, reply: asyncio.Future[bytes]) -> dict[str, object]:
    try:
        data = await asyncio.wait_for(reply, log.publish_timeout)
    except TimeoutError:
        raise LogUnavailable(f"no answer to a batch commit on {log.stream}") from None
    if data.startswith(b"NATS/1.0"):  # a status instead of an ack: 503, no stream takes it
        await stream_info(log.js, log.stream)  # ChapterNotFound, or JetStream restarting
        raise LogUnavailable(f"JetStream does not take appends to {log.stream} now")
    return dict(json.loads(data))
