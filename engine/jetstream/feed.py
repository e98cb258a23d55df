"""What a read receives: the deliveries of one push consumer, as `Batch`es and `Hole`s.

The wire protocol (`engine/jetstream/wire.py`) fills a `Feed` as bytes arrive; the reader
(`engine/jetstream/reads.py`) drains it. Neither needs the other to know what a delivery is.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass

__all__ = ["HEARTBEAT_S", "Batch", "Feed", "Hole", "Reset"]

HEARTBEAT_S = 2.0
"""Idle heartbeat of read consumers; three missed ones mean the feed must start over."""


class Reset(Exception):
    """The feed must re-create its consumer from its next revision."""


@dataclass
class Batch:
    """Contiguous deliveries: `payloads[i]` is revision `first + i`, `hashes[i]` its Rs-Hash."""

    first: int
    payloads: list[bytes]
    hashes: list[bytes]


@dataclass
class Hole:
    """The stream has no message between `expected` and `found` (the stream was tampered with)."""

    expected: int
    found: int


class Feed:
    """The deliveries of one push consumer, filled by the protocol, drained by the reader."""

    def __init__(self, sid: int, next_seq: int) -> None:
        self.sid = sid
        self.next_seq = next_seq
        self.next_dseq = 1
        self.queue: deque[Batch | Hole] = deque()
        self.queued_bytes = 0
        self.waiter: asyncio.Future[None] | None = None
        self.held_fc: bytes | None = None
        self.failed: BaseException | None = None
        self.consumer: str | None = None
        self.last_seen = time.monotonic()
        # the batch being filled by the current `data_received` call
        self.cur_first = 0
        self.cur_payloads: list[bytes] = []
        self.cur_hashes: list[bytes] = []

    def flush(self) -> None:
        """Queue the batch filled so far (its hex hashes turned into digests)."""
        if self.cur_payloads:
            self.queue.append(Batch(self.cur_first, self.cur_payloads, _unhex(self.cur_hashes)))
            self.cur_payloads, self.cur_hashes = [], []

    def wake(self) -> None:
        """Let a waiting reader look at the queue."""
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def fail(self, exc: BaseException) -> None:
        """Stop the feed: its reader raises `exc` (the first failure wins)."""
        if self.failed is None:
            self.failed = exc
        self.wake()


def _unhex(hexes: list[bytes]) -> list[bytes]:
    try:
        raw = bytes.fromhex(b"".join(hexes).decode())
    except (ValueError, UnicodeDecodeError):
        return [_one_unhex(h) for h in hexes]
    if len(raw) != 32 * len(hexes):
        return [_one_unhex(h) for h in hexes]
    return [raw[i : i + 32] for i in range(0, len(raw), 32)]


def _one_unhex(h: bytes) -> bytes:
    # A missing or malformed Rs-Hash never matches a recomputed hash: verification names its rev.
    try:
        value = bytes.fromhex(h.decode())
    except (ValueError, UnicodeDecodeError):
        return b""
    return value if len(value) == 32 else b""
