"""The owner's server when it is this one: the same application functions its routes use."""

from __future__ import annotations

from app.relay import FeedBatch
from app.services import Services
from app.shares import Connection, connect
from engine.copies import share_snapshot

__all__ = ["LocalPeer"]


class LocalPeer:
    """This server, for one share's token (a guest accepting a share from a member of it)."""

    def __init__(self, services: Services, token: str) -> None:
        self.services = services
        self.token = token

    async def connect(self) -> Connection:
        return await connect(self.services, self.token)

    async def feed(self, after: int) -> FeedBatch:
        access = await self.services.shares.resolve(self.token)
        return await self.services.relay.feed(access, after)

    async def blob(self, hash: str) -> bytes:
        # One blob store: the guest's chapter names blobs this server already holds.
        return await self.services.blobs.get(hash)

    async def snapshot(self) -> bytes:
        return await share_snapshot(
            self.services.logs, await self.services.shares.resolve(self.token)
        )

    async def aclose(self) -> None:
        return None
