"""The eraser: the follower that deletes erased blobs from this server's blob store.

A `ContentErased` names the blobs erased (docs/log-format.md, "Erasure"). The command that
appended it deleted them on its own server already; the eraser makes that durable and universal:
after a crash mid-erasure (the event stored, the deletes not all done), on a mirror or replica
whose blob store holds copies, and on a server where another process appended the event. It runs
first among the projections, so that by the time the views re-fold a chapter the blobs are gone
and the erased fields read as erased. Deleting a missing blob is a no-op: replays change nothing.
"""

from typing import Any

import aiosqlite

from engine.blobs import BlobStore
from events import ContentErased, Envelope
from projections.base import SqliteProjection, handles
from projections.store import Views

__all__ = ["Eraser"]


class Eraser(SqliteProjection):
    """Deletes the blobs every `ContentErased` names."""

    name = "eraser"
    version = 1

    def __init__(self, views: Views, blobs: BlobStore) -> None:
        super().__init__(views)
        self.blobs = blobs

    @handles(ContentErased)
    async def on_erased(self, db: aiosqlite.Connection, e: Envelope, body: ContentErased) -> Any:
        for ref in body.refs:
            await self.blobs.delete(ref)
