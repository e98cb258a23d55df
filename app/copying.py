"""Accepting a copy share: the owner's snapshot, checked and imported as a chapter of the
guest's own (engine/copies.py does the checking and the writing)."""

from __future__ import annotations

from app.peers import Peer
from app.services import Services
from app.shares import Connection
from engine.accounts import User
from engine.copies import import_copy

__all__ = ["accept_copy"]


async def accept_copy(
    services: Services, user: User, book: str, connection: Connection, peer: Peer
) -> str:
    """Import the copy `connection` describes into `book`; the new chapter's id (registered)."""
    return await import_copy(
        services.books, services.logs, services.blobs, actor=user.id, book=book,
        title=connection.title, share=connection.share, manifest=await peer.snapshot(),
        fetch_blob=peer.blob,
    )  # fmt: skip
