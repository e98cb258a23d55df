"""`ragstack sync --zotero-dir` and `--obsidian-vault`: read a library on this machine and push
what changed to a chapter's connector, sending only the bytes the chapter does not hold.

The readers are the server's own (engine/connectors/zotero_local.py: a checked copy of
`zotero.sqlite`, never the live file; engine/connectors/obsidian.py: the vault's notes),
imported inside the functions like client/serve.py's imports: they touch only the user's
folder. The flow, the same for both (`push_library`):

1. ask the server what the connector holds (ref → blob), the chapter's own fold of its log;
2. read the library, hashing only files modified since the connector's cursor;
3. push the items in batches (at most `BATCH_FILES` files and `BATCH_BYTES` bytes each), each
   item's bytes only when its hash differs from what the chapter holds; the last batch carries
   the deletions (held refs no longer live) and the new cursor, so an interrupted sync starts
   again from the old cursor.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from client.aio import AsyncClient
from client.models_connectors import ConnectorStatus, SyncReport

if TYPE_CHECKING:
    from engine.connectors import Changes, RemoteItem

__all__ = [
    "BATCH_BYTES",
    "BATCH_FILES",
    "LocalReader",
    "PushProgress",
    "push_library",
    "sync_obsidian_vault",
    "sync_zotero_dir",
]

BATCH_FILES = 90
"""Files per push (the server takes at most 100 parts in a request)."""
BATCH_BYTES = 16 * 1024 * 1024
"""Bytes of files per push, past which a batch is sent."""
BATCH_ITEMS = 500
"""Items per push, so that a request's changes stay small."""

PushProgress = Callable[[str, int, int], None]
"""Called with (phase, done, total): phase `read` once the library is read, then `push`."""


def _merge(total: SyncReport | None, report: SyncReport | None) -> SyncReport | None:
    if report is None:
        return total
    if total is None:
        return report
    sums = {
        name: getattr(total, name) + getattr(report, name)
        for name in ("listed", "added", "revised", "retagged", "described", "removed",
                     "rejected", "appended", "error_count")
    }  # fmt: skip
    return msgspec.structs.replace(
        report, **sums, errors=[*total.errors, *report.errors][:100],
        rev=report.rev if report.rev is not None else total.rev,
    )  # fmt: skip


class LocalReader(Protocol):
    """A reader of a library on this machine (ZoteroLocal, ObsidianVault)."""

    def with_known(self, known: Mapping[str, str]) -> LocalReader: ...

    async def changes(self, cursor: str | None) -> Changes: ...

    async def fetch(self, item: RemoteItem) -> bytes: ...


async def sync_zotero_dir(
    client: AsyncClient,
    chapter: str,
    connector: ConnectorStatus,
    directory: Path,
    *,
    progress: PushProgress | None = None,
) -> tuple[ConnectorStatus, SyncReport | None]:
    """Push a Zotero data directory's changes (linked files read too: it is the user's own
    machine); the connector after, and the summed report of the pushes."""
    from engine.connectors.zotero_local import ZoteroLocal

    reader = ZoteroLocal(directory, linked_files=True)
    return await push_library(client, chapter, connector, reader, progress=progress)


async def sync_obsidian_vault(
    client: AsyncClient,
    chapter: str,
    connector: ConnectorStatus,
    directory: Path,
    *,
    progress: PushProgress | None = None,
) -> tuple[ConnectorStatus, SyncReport | None]:
    """Push an Obsidian vault's changes; the connector after, and the summed report."""
    from engine.connectors.obsidian import ObsidianVault

    reader = ObsidianVault(directory)
    return await push_library(client, chapter, connector, reader, progress=progress)


async def push_library(
    client: AsyncClient,
    chapter: str,
    connector: ConnectorStatus,
    reader: LocalReader,
    *,
    progress: PushProgress | None = None,
) -> tuple[ConnectorStatus, SyncReport | None]:
    """Push what `reader` finds changed; the connector after, and the summed report."""
    from engine.connectors import Changes

    held = await client.connector_items(chapter, connector.id)
    known = {h.ref: h.blob for h in held if not h.removed}
    reader = reader.with_known(known)
    changes = await reader.changes(connector.cursor)
    note = progress or (lambda *_: None)
    note("read", len(changes.items), len(changes.items))

    status, total, done = connector, None, 0

    async def push(items: list[RemoteItem], files: dict[str, bytes], *, last: bool) -> None:
        # Only the last batch carries the deletions and the cursor: a batch before it leaves the
        # cursor alone, so a sync cut short is taken up again from the same place.
        nonlocal status, total, done
        body: dict[str, Any] = {"items": items}
        if last:
            body["deleted"], body["cursor"] = changes.deleted, changes.cursor
        payload = msgspec.json.encode(Changes(**body))
        status = await client.push_connector_items(
            chapter, connector.id, changes=payload, files=files
        )
        total = _merge(total, status.report)
        done += len(items)
        note("push", done, len(changes.items))

    # Each batch is pushed as soon as it is full, so only one batch's files are in memory.
    items: list[RemoteItem] = []
    files: dict[str, bytes] = {}
    size = 0
    for item in changes.items:
        needs = item.error is None and item.blob is not None and known.get(item.ref) != item.blob
        full = needs and (len(files) >= BATCH_FILES or size >= BATCH_BYTES)
        if full or len(items) >= BATCH_ITEMS:
            await push(items, files, last=False)
            items, files, size = [], {}, 0
        items.append(item)
        if needs and item.blob not in files:
            data = await reader.fetch(item)
            files[item.blob or ""] = data
            size += len(data)
    await push(items, files, last=True)
    return status, total
