"""One sync of one connector into one chapter: append exactly what changed remotely.

What the connector brought in before is folded from the chapter's own log (`held`), so the log
stays the one truth: a sync after a crash, or from another process, starts from what was really
appended. Each listed item is compared with its source: new bytes append `SourceRevised`, new
tags `SourceRetagged`, new metadata `SourceDescribed`; an item seen for the first time appends
`SourceAdded` (or, when its bytes cannot be had, `SourceAdded` of no bytes and `SourceRejected`
with the reason). Deleted refs append `SourceRemoved`. Nothing changed, nothing appended.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence

import msgspec

from engine.blobs import BlobStore, blob_hash
from engine.connectors import Changes, Connector, ItemFailed, RemoteItem
from engine.errors import EngineError
from engine.jetstream.claims import Claims
from engine.log import Log
from engine.personal import open_bodies
from engine.rules import Conflict
from engine.sources import MAX_TAG_CHARS, MAX_TAGS, clean_name
from events import (
    SourceAdded,
    SourceDescribed,
    SourceMeta,
    SourceRejected,
    SourceRemoved,
    SourceRetagged,
    SourceRevised,
    new_id,
)

__all__ = [
    "Held",
    "HeldFold",
    "ItemError",
    "ProcessSyncs",
    "Progress",
    "SyncReport",
    "fit_tags",
    "fold_held",
    "held_items",
    "known_blobs",
    "sync",
]

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
"""Called with (items done, items listed) as a sync goes."""

MAX_ERRORS = 100
"""Per-item errors kept in a report (the count is always whole)."""


class Held(msgspec.Struct, kw_only=True):
    """A source a connector brought in, as the log has it now."""

    source: str
    ref: str
    name: str
    media_type: str
    blob: str
    tags: list[str]
    meta: SourceMeta | None
    removed: bool = False


class ItemError(msgspec.Struct, frozen=True, kw_only=True):
    """An item the sync could not bring in."""

    ref: str
    code: str
    message: str


class SyncReport(msgspec.Struct, kw_only=True):
    """What one sync did."""

    cursor: str | None = None
    listed: int = 0
    added: int = 0
    revised: int = 0
    retagged: int = 0
    described: int = 0
    removed: int = 0
    rejected: int = 0
    appended: int = 0
    """Events appended."""
    rev: int | None = None
    """The last rev appended, None when nothing was."""
    errors: list[ItemError] = []
    error_count: int = 0


def fit_tags(tags: Sequence[str]) -> list[str]:
    """A remote item's tags made to fit the source rules: trimmed, de-duplicated, each cut to the
    tag length limit, and at most the tag count limit of them (prefixed tags first, so an item
    type and its collections survive a long tag list)."""
    cleaned = {t.strip()[:MAX_TAG_CHARS].strip() for t in tags}
    ordered = sorted(t for t in cleaned if t)
    prefixed = [t for t in ordered if t.startswith(("type:", "collection:"))]
    plain = [t for t in ordered if t not in prefixed]
    return sorted((prefixed + plain)[:MAX_TAGS])


class HeldFold(msgspec.Struct, kw_only=True):
    """The connector's sources folded from its chapter's log up to `rev`: a caller that keeps it
    folds only the events after `rev` next time (the log only grows)."""

    connector: str
    rev: int = 0
    by_source: dict[str, Held] = {}

    def by_ref(self) -> dict[str, Held]:
        """The sources by ref (a ref re-added after a removal maps to its newest source)."""
        return {h.ref: h for h in self.by_source.values()}


async def fold_held(
    log_: Log, blobs: BlobStore, connector: str, fold: HeldFold | None = None
) -> HeldFold:
    """`fold` (or a new one) brought up to the log's head. Names and metadata are sealed in the
    chain (events/personal.py), so bodies are opened from their personal blobs, a batch at once."""
    fold = fold or HeldFold(connector=connector)
    head = (await log_.head()).rev
    if head <= fold.rev:
        return fold
    async for batch in log_.read_batches(fold.rev, head):
        for body in await open_bodies(blobs, [r.envelope.body for r in batch]):
            _fold_one(fold, body)
        fold.rev = batch[-1].rev
    return fold


def _fold_one(fold: HeldFold, body: object) -> None:
    by_source = fold.by_source
    if isinstance(body, SourceAdded):
        if body.connector == fold.connector and body.ref is not None:
            by_source[body.source] = Held(
                source=body.source, ref=body.ref, name=body.name, media_type=body.media_type,
                blob=body.blob, tags=sorted(set(body.tags)), meta=body.meta,
            )  # fmt: skip
        else:
            by_source.pop(body.source, None)  # a re-added id is no longer the connector's
        return
    held = by_source.get(getattr(body, "source", ""))
    if held is None:
        return
    match body:
        case SourceRevised():
            held.blob, held.name, held.media_type = body.blob, body.name, body.media_type
        case SourceRetagged():
            held.tags = sorted(set(body.tags))
        case SourceDescribed():
            held.meta = body.meta
        case SourceRemoved():
            held.removed = True


def known_blobs(held: Mapping[str, Held]) -> dict[str, str]:
    """Ref → blob of the sources the connector still holds (removed ones left out): what a
    lister's `with_known` takes to skip unchanged items and see deleted refs."""
    return {ref: h.blob for ref, h in held.items() if not h.removed}


class ConnectorBusy(Conflict):
    """A sync of this connector is running already (here or in another process)."""

    code = "connector_busy"


class ProcessSyncs:
    """What one process keeps between its syncs (one per `Services`, so it ends with them): each
    connector's fold, brought up to date by folding only the events appended since (the log only
    grows), and one lock per connector so two syncs of it never run at once here; `claims` keeps
    them apart from other processes' (engine/jetstream/claims.py; None: this process alone)."""

    def __init__(self, claims: Claims | None = None) -> None:
        self._folds: dict[str, HeldFold] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.claims = claims

    async def held(self, log_: Log, blobs: BlobStore, connector: str) -> dict[str, Held]:
        """The connector's sources by ref, as of the log's head."""
        fold = await fold_held(log_, blobs, connector, self._folds.get(connector))
        self._folds[connector] = fold
        return fold.by_ref()

    def lock(self, connector: str) -> asyncio.Lock:
        """The lock a sync of `connector` holds while it runs."""
        return self._locks.setdefault(connector, asyncio.Lock())

    @contextlib.asynccontextmanager
    async def exclusive(self, connector: str) -> AsyncIterator[None]:
        """Run a sync of `connector`: `ConnectorBusy` if one runs here or in another process."""
        lock = self.lock(connector)
        if lock.locked():
            raise ConnectorBusy("a sync of this connector is running; try again when it ends")
        async with lock:
            if self.claims is None:
                yield
                return
            claim = await self.claims.acquire(f"connector.{connector}")
            if claim is None:
                holder = await self.claims.holder_of(f"connector.{connector}")
                raise ConnectorBusy(
                    f"a sync of this connector is running in {holder or 'another process'}; "
                    "try again when it ends"
                )
            try:
                yield
            finally:
                await claim.release()

    def forget(self, connector: str) -> None:
        """Drop what is kept for a deleted connector."""
        self._folds.pop(connector, None)
        self._locks.pop(connector, None)


async def held_items(log_: Log, blobs: BlobStore, connector: str) -> dict[str, Held]:
    """The connector's sources in the chapter, by ref, folded from the log (removed ones too)."""
    return (await fold_held(log_, blobs, connector)).by_ref()


async def sync(
    connector: Connector,
    log_: Log,
    blobs: BlobStore,
    *,
    connector_id: str,
    actor: str,
    cursor: str | None,
    max_size: int | None = None,
    progress: Progress | None = None,
    held: Mapping[str, Held] | None = None,
) -> SyncReport:
    """List the changes since `cursor`, append what differs, and report; the new cursor is in
    the report. `held`: the connector's sources by ref, when the caller has folded them (else
    they are folded here). A ConnectorError (credential, service) propagates and the cursor
    stays."""
    if held is None:
        held = await held_items(log_, blobs, connector_id)
    changes: Changes = await connector.changes(cursor)
    report = SyncReport(cursor=changes.cursor, listed=len(changes.items))
    run = _Run(connector, log_, blobs, connector_id, actor, max_size, report)
    for done, item in enumerate(changes.items, start=1):
        try:
            await run.item(item, held.get(item.ref))
        except ItemFailed as failed:
            run.failed(item.ref, failed.code, failed.message)
        if progress is not None:
            progress(done, len(changes.items))
    gone = set(changes.deleted)
    if changes.complete:
        gone |= held.keys() - {i.ref for i in changes.items}
    for ref in sorted(gone):
        h = held.get(ref)
        if h is not None and not h.removed:
            await run.append(SourceRemoved(source=h.source))
            report.removed += 1
    return report


class _Run:
    def __init__(
        self,
        connector: Connector,
        log_: Log,
        blobs: BlobStore,
        connector_id: str,
        actor: str,
        max_size: int | None,
        report: SyncReport,
    ) -> None:
        self.connector, self.log, self.blobs = connector, log_, blobs
        self.connector_id, self.actor, self.max_size, self.report = (
            connector_id, actor, max_size, report,
        )  # fmt: skip

    async def append(self, body: SourceAdded | SourceRejected | SourceRevised | SourceRetagged
                     | SourceDescribed | SourceRemoved) -> None:  # fmt: skip
        self.report.rev = (await self.log.append(body, actor=self.actor)).rev
        self.report.appended += 1

    def failed(self, ref: str, code: str, message: str) -> None:
        self.report.error_count += 1
        if len(self.report.errors) < MAX_ERRORS:
            self.report.errors.append(ItemError(ref=ref, code=code, message=message))

    async def _bytes(self, item: RemoteItem, known: str | None) -> tuple[str, int] | None:
        """The item's blob and size, stored; None when its bytes are `known` already."""
        if item.error is not None:
            raise ItemFailed("unreadable", item.error)
        if item.blob is not None and item.blob == known:
            return None
        data = await self.connector.fetch(item)
        if self.max_size is not None and len(data) > self.max_size:
            raise ItemFailed("too_large", f"{item.name} is larger than {self.max_size} bytes")
        if blob_hash(data) == known:
            return None
        try:
            return await self.blobs.put(data), len(data)
        except EngineError as exc:
            raise ItemFailed("not_stored", f"{item.name} could not be stored: {exc}") from None

    async def item(self, item: RemoteItem, held: Held | None) -> None:
        tags = fit_tags(item.tags)
        name = _name(item.name)
        if held is None or held.removed:
            await self._new(item, name, tags)
            return
        stored = await self._bytes(item, held.blob)
        if stored is not None:
            blob, size = stored
            await self.append(
                SourceRevised(source=held.source, blob=blob, size=size, media_type=item.media_type,
                              name=name)
            )  # fmt: skip
            self.report.revised += 1
        if tags != held.tags:
            await self.append(SourceRetagged(source=held.source, tags=tags))
            self.report.retagged += 1
        if item.meta is not None and item.meta != held.meta:
            await self.append(SourceDescribed(source=held.source, meta=item.meta))
            self.report.described += 1

    async def _new(self, item: RemoteItem, name: str, tags: list[str]) -> None:
        source = new_id()
        try:
            stored = await self._bytes(item, None)
            failure = None
        except ItemFailed as failed:
            stored, failure = None, failed
        if stored is None:  # it could not be had: a source of no bytes, rejected with the reason
            blob, size = await self.blobs.put(b""), 0
        else:
            blob, size = stored
        await self.append(
            SourceAdded(
                source=source, name=name, media_type=item.media_type, blob=blob, size=size,
                origin=self.connector.kind, tags=tags, connector=self.connector_id, ref=item.ref,
                meta=item.meta,
            )
        )  # fmt: skip
        if failure is not None:
            await self.append(
                SourceRejected(source=source, code=failure.code, message=failure.message)
            )
            self.report.rejected += 1
            self.failed(item.ref, failure.code, failure.message)
        else:
            self.report.added += 1


def _name(name: str) -> str:
    try:
        return clean_name(name)
    except EngineError:
        return "untitled"
