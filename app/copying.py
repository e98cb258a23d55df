"""Copy shares: the owner's signed snapshot, and accepting one as a chapter of the guest's own
(engine/copies.py does the signing, checking and writing)."""

from __future__ import annotations

from app.local_peer import LocalPeer
from app.peers import Peer
from app.services import Services
from app.shares import Connection
from engine.accounts import User
from engine.copies import import_copy

__all__ = ["accept_copy"]


async def accept_copy(
    services: Services, user: User, book: str, connection: Connection, peer: Peer
) -> str:
    """Import the copy `connection` describes into `book`; the new chapter's id (registered).

    The snapshot must carry the original's signed head, and every copied event must prove
    against its root. On this server the signature is checked against the original book's own
    key history; from another server, against the keys its snapshot carries (trust on first use:
    they stay in the stored manifest, so every later check of the copy uses the same keys)."""
    keys = None
    if isinstance(peer, LocalPeer) and services.keys is not None:
        keys = await services.keys.history_of_chapter(connection.chapter)
    return await import_copy(
        services.books, services.logs, services.blobs, actor=user.id, book=book,
        title=connection.title, share=connection.share, manifest=await peer.snapshot(),
        fetch_blob=peer.blob, keys=keys, require_signed=True,
    )  # fmt: skip
