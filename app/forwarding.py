"""A guest's writes and questions in a live mirror go to the owner's chapter.

A mirror (app/mirrors.py) is the owner's chapter as the guest's server holds it; what the guest
adds, edits or removes there must happen in the owner's chapter, where the share's permissions
are checked (gateway/routes/share_guests.py) and the change is recorded as `share:<id>`. It then
comes back to the mirror with the next sync. A question in a mirror whose share allows
`prompt_passthrough` is answered by the owner's model the same way; without it, or when the guest
asks for their own model, the guest's server answers over the mirror.

Each function returns None for a chapter that is not a live mirror: the caller goes on as usual.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Sequence
from typing import Any

from app.mirror_records import mirror_record
from app.peers import Peer, open_peer
from app.services import Services
from engine.blobs import blob_hash
from engine.sources import clean_name, clean_tags
from projections.catalogue import SourceView

__all__ = ["add_files", "ask", "remove", "update"]


async def _peer(services: Services, chapter: str) -> tuple[Peer, list[str]] | None:
    found = await mirror_record(services, chapter)
    if found is None:
        return None
    token, record = found
    return open_peer(services, token, record.from_server), record.permissions


async def _bytes(data: AsyncIterable[bytes] | bytes) -> bytes:
    if isinstance(data, bytes):
        return data
    return b"".join([piece async for piece in data])


async def add_files(
    services: Services, chapter: str, files: Sequence[Any], tags: Sequence[str]
) -> list[SourceView] | None:
    """Add `files` (app.sources.NewFile) to the owner's chapter of a mirror; the new sources as
    they will show once synced (pending)."""
    found = await _peer(services, chapter)
    if found is None:
        return None
    peer, _ = found
    cleaned = clean_tags(tags)
    try:
        payload = [(f.name, await _bytes(f.data), f.media_type) for f in files]
        ids = await peer.add_files(payload, cleaned)
    finally:
        await peer.aclose()
    return [
        _pending(source, name, data, kind, cleaned)
        for source, (name, data, kind) in zip(ids, payload, strict=True)
    ]


def _pending(source: str, name: str, data: bytes, kind: str, tags: list[str]) -> SourceView:
    return SourceView(
        id=source, name=clean_name(name), media_type=kind, size=len(data), status="pending",
        reason=None, tags=tags, rev=0, blob=blob_hash(data), origin="upload",
    )  # fmt: skip


async def update(
    services: Services, chapter: str, source: str, tags: Sequence[str] | None, text: str | None
) -> bool:
    """Retag or edit a source of a mirror in the owner's chapter; False if not a mirror."""
    found = await _peer(services, chapter)
    if found is None:
        return False
    peer, _ = found
    try:
        await peer.update(source, None if tags is None else clean_tags(tags), text)
    finally:
        await peer.aclose()
    return True


async def remove(services: Services, chapter: str, source: str) -> bool:
    """Remove a source of a mirror from the owner's chapter; False if not a mirror."""
    found = await _peer(services, chapter)
    if found is None:
        return False
    peer, _ = found
    try:
        await peer.remove(source)
    finally:
        await peer.aclose()
    return True


async def ask(services: Services, chapter: str, question: str, k: int) -> dict[str, Any] | None:
    """The owner's model's answer to a question in a mirror whose share allows passthrough;
    None when the guest's own model answers (no passthrough, or not a mirror)."""
    found = await _peer(services, chapter)
    if found is None:
        return None
    peer, permissions = found
    try:
        if "prompt_passthrough" not in permissions:
            return None
        return await peer.ask(question, None, k)
    finally:
        await peer.aclose()
