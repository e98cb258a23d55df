"""Helpers of the connector tests: a stand-in for asyncio.sleep that records how long a sync was
told to wait (a 429's Retry-After), so the tests check the wait without spending it; and the
events a sync appended, opened as every reader opens them (their names and metadata are sealed
out of the chained bytes, events/personal.py)."""

from __future__ import annotations

from engine.blobs import BlobStore
from engine.log import Log
from engine.personal import open_bodies
from events import Body


async def opened(log: Log, blobs: BlobStore, after: int) -> list[Body]:
    """The bodies appended after rev `after`, with their sealed fields opened."""
    return await open_bodies(blobs, [r.envelope.body async for r in log.read(after=after)])


class Sleeps(list):
    """The waits asked for, in order."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)
