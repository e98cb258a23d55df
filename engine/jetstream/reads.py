"""Reading a stream fast: push consumers delivering onto the engine's own connection (`Wire`).

A read behaves like an ordered consumer: it checks the delivery sequence, and when anything goes
wrong (a lost delivery, no heartbeat, a server restart, a dropped connection) it re-creates the
consumer from the next revision it still needs. Memory stays bounded: the server waits for our
answer to each flow-control request, and a feed holds that answer while its reader is behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import nats.errors
import nats.js.errors
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from engine.errors import ChapterNotFound, LogUnavailable
from engine.jetstream.feed import HEARTBEAT_S, Batch, Feed, Hole, Reset
from engine.jetstream.wire import Wire
from engine.nats import log_id_of_stream

__all__ = ["Batch", "Hole", "stream_batches"]


async def stream_batches(
    wire: Wire,
    stream: str,
    start: int,
    end: int | None = None,
    *,
    follow: bool = False,
    retry_for: float | None = 30.0,
) -> AsyncIterator[Batch | Hole]:
    """The messages of `stream` from sequence `start` through `end` (None: through the head as
    it is when the read begins) or, with `follow`, forever — as contiguous `Batch`es, or a `Hole`
    where sequences are missing.

    Interruptions are retried, resuming where they broke off; after `retry_for` seconds without
    progress (None: never give up) the read fails with `LogUnavailable`.
    """
    next_seq, stop = start, end
    failing_since: float | None = None
    while True:
        resumed_at = next_seq
        try:
            feed, pending = await _open(wire, stream, next_seq)
            if stop is None and not follow:
                stop = next_seq - 1 + pending
            try:
                async for item in _drain(wire, feed, None if follow else stop):
                    yield item
                return
            finally:
                next_seq = feed.next_seq
                _close(wire, feed, stream)
        except (Reset, LogUnavailable) as exc:
            now = time.monotonic()
            if next_seq > resumed_at or failing_since is None:
                failing_since = now
            if retry_for is not None and now - failing_since > retry_for:
                raise LogUnavailable(f"reading {stream} failed: {exc}") from None
            await asyncio.sleep(0.05 if isinstance(exc, Reset) else 0.25)


async def _open(wire: Wire, stream: str, start: int) -> tuple[Feed, int]:
    """A feed with its consumer, and how many messages were pending from `start` on."""
    feed, deliver = await wire.open_feed(start)
    config = ConsumerConfig(
        deliver_subject=deliver,
        deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
        opt_start_seq=max(start, 1),
        ack_policy=AckPolicy.NONE,
        flow_control=True,
        idle_heartbeat=HEARTBEAT_S,
        max_deliver=1,
        mem_storage=True,
        num_replicas=1,
        inactive_threshold=10.0,
    )
    try:
        info = await wire.nc.jsm().add_consumer(stream, config=config, timeout=10)
    except nats.js.errors.NotFoundError:
        wire.close_feed(feed)
        raise ChapterNotFound(log_id_of_stream(stream)) from None
    except (
        nats.errors.TimeoutError,
        nats.errors.ConnectionClosedError,
        nats.js.errors.ServiceUnavailableError,
    ) as exc:
        wire.close_feed(feed)
        raise LogUnavailable(f"cannot create a reader on {stream}: {exc!r}") from None
    except BaseException:
        wire.close_feed(feed)
        raise
    feed.consumer = info.name
    return feed, int(info.num_pending or 0)


async def _drain(wire: Wire, feed: Feed, stop: int | None) -> AsyncIterator[Batch | Hole]:
    loop = asyncio.get_running_loop()
    while True:
        while feed.queue:
            item = feed.queue.popleft()
            if isinstance(item, Batch):
                feed.queued_bytes -= sum(map(len, item.payloads))
                wire.answer_held_flow_control(feed)
                if stop is not None and item.first + len(item.payloads) - 1 > stop:
                    keep = stop - item.first + 1
                    item = Batch(item.first, item.payloads[:keep], item.hashes[:keep])
                if item.payloads:
                    yield item
                if stop is not None and item.first + len(item.payloads) > stop:
                    return
            else:
                yield item
        if stop is not None and feed.next_seq > stop:
            return
        if feed.failed is not None:
            exc, feed.failed = feed.failed, None
            raise exc if isinstance(exc, (Reset, LogUnavailable)) else Reset(str(exc))
        feed.waiter = loop.create_future()
        try:
            await asyncio.wait_for(asyncio.shield(feed.waiter), HEARTBEAT_S * 3)
        except TimeoutError:
            if time.monotonic() - feed.last_seen > HEARTBEAT_S * 3:
                raise Reset("no heartbeat from the server") from None
        finally:
            feed.waiter = None


def _close(wire: Wire, feed: Feed, stream: str) -> None:
    wire.close_feed(feed)
    if feed.consumer and wire.nc.is_connected:
        # Ephemeral consumers expire by themselves (inactive_threshold); deleting is courtesy.
        task = asyncio.ensure_future(_delete_consumer(wire, stream, feed.consumer))
        wire.cleanup.add(task)
        task.add_done_callback(wire.cleanup.discard)


async def _delete_consumer(wire: Wire, stream: str, name: str) -> None:
    with contextlib.suppress(Exception):
        await wire.nc.jsm().delete_consumer(stream, name)
