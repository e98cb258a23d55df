"""Source commands: the bytes go to the blob store first, then the event names them by hash.

Permission checks happen before these are called (Books.chapter_access for members, the share's
permissions for guests); these functions keep the log's own invariants: a source event always
names a blob that exists, and an edit always carries a patch that applies to its base text.
"""

from collections.abc import AsyncIterable, Sequence
from typing import Any

import rust_core
from engine.blobs import BlobStore
from engine.log import Log
from engine.rules import Invalid
from events import (
    SourceAdded,
    SourceEdited,
    SourceRemoved,
    SourceRetagged,
    new_id,
)

MAX_TAGS = 32
MAX_TAG_CHARS = 64


def clean_tags(tags: Sequence[str]) -> list[str]:
    """Tags trimmed, de-duplicated and sorted; Invalid for empty, long or too many tags."""
    cleaned = sorted({t.strip() for t in tags})
    if any(not t for t in cleaned):
        raise Invalid("a tag cannot be empty")
    if any(len(t) > MAX_TAG_CHARS for t in cleaned):
        raise Invalid(f"a tag can be at most {MAX_TAG_CHARS} characters")
    if len(cleaned) > MAX_TAGS:
        raise Invalid(f"a source can have at most {MAX_TAGS} tags")
    return cleaned


def clean_name(name: str) -> str:
    """A display name for a source: the last path component, trimmed."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not name:
        raise Invalid("a source needs a name")
    return name[:255]


async def add_source(
    log: Log,
    blobs: BlobStore,
    *,
    actor: str,
    **source: Any,
) -> SourceAdded:
    """Store the bytes, then append `SourceAdded`; returns the event body (with the source id).

    Takes `prepare_source`'s arguments. An upload over `max_size` raises BlobTooLarge and appends
    nothing. (A caller that needs the rev appends `prepare_source`'s body itself.)
    """
    body = await prepare_source(blobs, **source)
    await log.append(body, actor=actor)
    return body


async def prepare_source(
    blobs: BlobStore,
    *,
    name: str,
    data: bytes | AsyncIterable[bytes],
    media_type: str = "application/octet-stream",
    tags: Sequence[str] = (),
    origin: str = "upload",
    url: str | None = None,
    max_size: int | None = None,
) -> SourceAdded:
    """Store the bytes and make the `SourceAdded` that names them, for the caller to append.

    An upload over `max_size` raises BlobTooLarge, and nothing is to be appended.
    """
    name, tags = clean_name(name), clean_tags(tags)
    if isinstance(data, bytes):
        if max_size is not None and len(data) > max_size:
            from engine.errors import BlobTooLarge

            raise BlobTooLarge(max_size)
        blob, size = await blobs.put(data), len(data)
    else:
        info = await blobs.put_stream(data, max_size=max_size)
        blob, size = info.hash, info.size
    body = SourceAdded(
        source=new_id(),
        name=name,
        media_type=media_type or "application/octet-stream",
        blob=blob,
        size=size,
        origin=origin,
        url=url,
        tags=tags,
    )
    return body


async def edit_source(
    log: Log, blobs: BlobStore, *, actor: str, source: str, base_text: str, new_text: str
) -> int:
    """Record an edit of a source's extracted text as a compact patch against `base_text`;
    returns the rev it was appended at."""
    old = (await blobs.get(base_text)).decode()
    new_hash = await blobs.put(new_text.encode())
    body = SourceEdited(
        source=source,
        base_text=base_text,
        patch=rust_core.diff(old, new_text),
        new_text=new_hash,
    )
    return (await log.append(body, actor=actor)).rev


async def retag_source(log: Log, *, actor: str, source: str, tags: Sequence[str]) -> int:
    """Replace a source's tags; returns the rev it was appended at."""
    recorded = await log.append(SourceRetagged(source=source, tags=clean_tags(tags)), actor=actor)
    return recorded.rev


async def remove_source(log: Log, *, actor: str, source: str) -> int:
    """Take a source out of the chapter (its blob stays for history); returns the rev."""
    return (await log.append(SourceRemoved(source=source), actor=actor)).rev
