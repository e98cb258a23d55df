"""The owner's server when it is this one: the same application functions its routes use."""

from __future__ import annotations

from typing import Any

import msgspec

from app.asking import Asked
from app.relay import FeedBatch
from app.services import Services
from app.shares import Connection, ask_as_guest, connect
from app.sources import NewFile, add_files, remove, update
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
        assert self.services.keys is not None, "open_services makes the keys"
        return await share_snapshot(
            self.services.keys, await self.services.shares.resolve(self.token)
        )

    async def add_files(self, files: list[tuple[str, bytes, str]], tags: list[str]) -> list[str]:
        access = await self.services.shares.resolve(self.token)
        access.require("add")
        added = await add_files(
            self.services, access.chapter, actor=access.actor, tags=tags,
            files=[NewFile(name=name, data=data, media_type=kind) for name, data, kind in files],
        )  # fmt: skip
        return [view.id for view in added.sources]

    async def update(self, source: str, tags: list[str] | None, text: str | None) -> None:
        access = await self.services.shares.resolve(self.token)
        access.require("edit")
        await update(
            self.services, access.chapter, source, actor=access.actor, tags=tags, text=text
        )

    async def remove(self, source: str) -> None:
        access = await self.services.shares.resolve(self.token)
        access.require("remove")
        await remove(self.services, access.chapter, source, actor=access.actor)

    async def ask(self, question: str, thread: str | None, k: int) -> dict[str, Any]:
        access = await self.services.shares.resolve(self.token)
        answer = None
        async for item in ask_as_guest(self.services, access, question, thread=thread, k=k):
            if isinstance(item, Asked):
                answer = item
        if answer is None:
            raise RuntimeError("the answer stream ended without an answer")
        return dict(msgspec.to_builtins(answer))

    async def aclose(self) -> None:
        return None
