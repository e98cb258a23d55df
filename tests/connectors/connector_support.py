"""Helpers of the connector tests: a stand-in for asyncio.sleep that records how long a sync was
told to wait (a 429's Retry-After), so the tests check the wait without spending it; and the
events a sync appended, opened as every reader opens them (their names and metadata are sealed
out of the chained bytes, events/personal.py); and one sync of a remote service's lister, run
as the server runs it."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from engine.blobs import BlobStore
from engine.connectors import Connector
from engine.connectors.http import ServiceClient
from engine.connectors.sync import SyncReport, held_items, known_blobs, sync
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


async def sync_opened(
    client: ServiceClient,
    lister: Callable[[Mapping[str, str]], Connector],
    log: Log,
    blobs: BlobStore,
    connector_id: str,
    cursor: str | None,
) -> tuple[SyncReport, list[Body]]:
    """One sync of `lister(known)` over `client` (closed after), the held blobs telling it what
    is known; its report and the bodies it appended, opened."""
    connector = lister(known_blobs(await held_items(log, blobs, connector_id)))
    head = (await log.head()).rev
    try:
        report = await sync(
            connector, log, blobs, connector_id=connector_id, actor="u", cursor=cursor
        )
    finally:
        await client.close()
    return report, await opened(log, blobs, head)
