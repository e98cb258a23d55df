"""Copy shares: the owner's snapshot manifest, and importing it as a chapter of the guest's book.

The owner's side reads the chapter once, verified, up to a rev and keeps the in-scope events'
exact payloads with every chain hash h[0..rev] and the Merkle root over h[1..rev]
(`build_manifest`; the format is events/copies.py's). `share_snapshot` is what a copy share's
token opens: the chapter as it is at the request. A copy is a snapshot taken when the guest
accepts (as the issue asks of a new guest's first look), not when the share was granted: the
grant says "you may take a copy", and the owner's later work up to the accept is part of it.

The guest's side (`import_copy`) checks the manifest, copies the blobs its events name, then
writes a new chapter: `ChapterForked` naming the manifest blob, then the copied bodies unchanged
(bulk atomic batches, each with its original actor), and only then registers the chapter in the
book. Later changes on either side do not cross: the copy is a chapter of its own.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence

import msgspec

from engine.blobs import BlobStore, blob_hash
from engine.books import Books
from engine.errors import BlobCorrupt, ChainBroken
from engine.log import Log, Logs
from engine.personal import open_bodies
from engine.rules import Conflict, Invalid
from engine.shares import ShareAccess
from events import (
    ChapterCreated,
    ChapterForked,
    ChapterMirrored,
    ChapterRenamed,
    decode,
)
from events.archive import erased_refs
from events.blobs import blobs_of_all
from events.copies import (
    CopiedEvent,
    CopyManifest,
    CopyReport,
    check_manifest,
    decode_manifest,
    encode_manifest,
    merkle_root_hex,
    verify_copy,
)
from events.scopes import copied_types
from rust_core import GENESIS

__all__ = [
    "BLOB_COPIES_AT_ONCE",
    "CopyRejected",
    "FetchBlob",
    "NotACopyShare",
    "build_manifest",
    "import_copy",
    "migrate_chapter",
    "share_snapshot",
    "verify_copy_chapter",
]

BLOB_COPIES_AT_ONCE = 8
"""Blobs fetched from the owner at the same time during an import."""

FetchBlob = Callable[[str], Awaitable[bytes | AsyncIterator[bytes]] | AsyncIterator[bytes]]
"""Fetches a blob from the owner's server by hash: an async function giving its bytes (or an
iterator over them), or an async generator of them."""


class NotACopyShare(Conflict):
    """A snapshot was asked of a live share (HTTP 409)."""

    code = "not_a_copy_share"


class CopyRejected(Invalid):
    """A manifest that does not check out against itself: nothing was imported (HTTP 422)."""

    code = "copy_rejected"


class _Tag(msgspec.Struct):
    type: str


class _Stamp(msgspec.Struct):
    """What the manifest builder reads of each envelope (the body's other fields are skipped)."""

    chapter: str
    rev: int
    body: _Tag


_stamp_decoder = msgspec.msgpack.Decoder(_Stamp)


# -- the owner's side ----------------------------------------------------------------------------


async def build_manifest(log: Log, *, upto: int, scope: Iterable[str]) -> CopyManifest:
    """The manifest of a copy of `log` at rev `upto` (<= its head) for a share with `scope`,
    read in batches with the chain verified (`ChainBroken` names a bad rev)."""
    head = await log.head()
    if not 1 <= upto <= head.rev:
        raise Invalid(f"a copy is taken at a rev between 1 and the head ({head.rev}), not {upto}")
    scope = list(dict.fromkeys(scope))
    tags = {t.__struct_config__.tag for t in copied_types(scope)}
    hashes = bytearray(GENESIS)
    events: list[CopiedEvent] = []
    async for batch in log.read_batches(0, upto, verify=True):
        for recorded in batch:
            try:
                stamp = _stamp_decoder.decode(recorded.payload)
            except (msgspec.DecodeError, msgspec.ValidationError):
                raise ChainBroken(log.id, recorded.rev, "the payload is not an event") from None
            if stamp.chapter != log.id or stamp.rev != recorded.rev:
                raise ChainBroken(log.id, recorded.rev, "the event was written for another place")
            hashes += recorded.hash
            if stamp.body.type in tags:
                events.append(CopiedEvent(recorded.rev, recorded.payload))
    data = bytes(hashes)
    return CopyManifest(
        from_chapter=log.id,
        from_rev=upto,
        from_head=data[-32:].hex(),
        from_root=merkle_root_hex(data),
        scope=scope,
        hashes=data,
        events=events,
    )


async def share_snapshot(logs: Logs, access: ShareAccess) -> bytes:
    """The manifest bytes of the copy share `access` (resolved from its token), at the
    chapter's head now; `NotACopyShare` for a live share."""
    if access.mode != "copy":
        raise NotACopyShare(
            f"this is a {access.mode} share: only a copy share has a snapshot; follow a "
            "live share through POST /v1/shares/{token}/connect"
        )
    log = logs.chapter(access.chapter)
    manifest = await build_manifest(log, upto=(await log.head()).rev, scope=access.scope)
    return encode_manifest(manifest)


# -- the guest's side ----------------------------------------------------------------------------


async def _copy_blob(blobs: BlobStore, digest: str, fetch_blob: FetchBlob) -> None:
    if await blobs.exists(digest):
        return  # the same server, or copied before: content-addressed, so it is the same
    got = fetch_blob(digest)
    if inspect.isawaitable(got):
        got = await got
    if isinstance(got, bytes | bytearray | memoryview):
        data = bytes(got)
        if (actual := blob_hash(data)) != digest:
            raise BlobCorrupt(digest, actual, "a blob fetched for a copy")
        await blobs.put(data)
        return
    # A stream is stored as it arrives: wrong bytes land under their own address, which no event
    # names (never deleted here: the same bytes may be another chapter's blob).
    stored = (await blobs.put_stream(got)).hash
    if stored != digest:
        raise BlobCorrupt(digest, stored, "a blob fetched for a copy")


async def _copy_blobs(blobs: BlobStore, digests: Sequence[str], fetch_blob: FetchBlob) -> None:
    gate = asyncio.Semaphore(BLOB_COPIES_AT_ONCE)

    async def one(digest: str) -> None:
        async with gate:
            await _copy_blob(blobs, digest, fetch_blob)

    await asyncio.gather(*(one(d) for d in digests))


async def migrate_chapter(
    books: Books, logs: Logs, blobs: BlobStore, *, actor: str, chapter: str
) -> str:
    """Re-fork `chapter` (written before sealing) into a new chapter of the same book whose events
    are sealed (docs/log-format.md, "Erasure"), assigned to the same member; its id. The copy
    re-issues the content events (sources, threads) under a `ChapterForked` that ties each to the
    original, as a copy share does, and the log seals them on append. The original is left as
    it is — its log cannot change — and stays in the book until someone deletes it (its log then
    stays for audit: erasing personal content there is not possible; see the docs)."""
    book = await books.book_of(chapter)
    state = await books.state(book, fresh=True)
    entry = state.check_chapter(actor, chapter, "manage")
    log = logs.chapter(chapter)
    manifest = await build_manifest(
        log, upto=(await log.head()).rev, scope=["sources", "notes", "threads"]
    )
    title = ""
    async for recorded in log.read():
        body = recorded.envelope.body
        if isinstance(body, ChapterCreated | ChapterRenamed | ChapterForked | ChapterMirrored):
            (body,) = await open_bodies(log.blobs, [body])
            title = body.title  # type: ignore[attr-defined]
    copied = await import_copy(
        books, logs, blobs, actor=actor, book=book, title=title or entry.title, share=None,
        manifest=manifest, fetch_blob=blobs.get,
    )  # fmt: skip
    if entry.assignee != actor:
        await books.reassign_chapter(actor, copied, entry.assignee)
    return copied


async def import_copy(
    books: Books,
    logs: Logs,
    blobs: BlobStore,
    *,
    actor: str,
    book: str,
    title: str,
    share: str | None,
    manifest: CopyManifest | bytes,
    fetch_blob: FetchBlob,
) -> str:
    """Import a copy into `book` for `actor` (a member); the new chapter's id. `share` is the
    copy share it came from (None: an archive, engine/archive.py).

    The manifest is checked first (`CopyRejected`, nothing written), then the blobs its events
    name are copied where the guest's store lacks them, then the manifest is stored, the chapter
    started with `ChapterForked` and the bodies re-issued, and last the chapter is registered in
    the book. Pass the manifest's bytes as received, so that the fork names the blob the owner
    served.

    Nothing is half-visible: a chapter is in a book only once registered. A failure before that
    leaves blobs (content-addressed, so harmless and reused by a retry) and, if it came after
    `start_chapter`, an unregistered chapter stream that no book lists, so no route shows it or
    lets anyone write to it; it costs only its storage. A retry imports afresh under a new id.
    """
    if isinstance(manifest, bytes):
        data, m = manifest, _decoded(manifest)
    else:
        data, m = encode_manifest(manifest), manifest
    report = check_manifest(m)
    if not report.ok:
        raise CopyRejected(f"the copy's manifest does not check out: {report.reason}")
    (await books.state(book, fresh=True)).require_member(actor)
    envelopes = [decode(event.payload) for event in m.events]
    bodies = [e.body for e in envelopes]
    erased = erased_refs(bodies)  # gone at the original: nothing to copy, they read as erased
    await _copy_blobs(blobs, [h for h in blobs_of_all(bodies) if h not in erased], fetch_blob)
    digest = await blobs.put(data)
    title = title.strip() or "Untitled"
    first = ChapterForked(
        book=book, title=title, from_chapter=m.from_chapter, from_rev=m.from_rev,
        from_head=m.from_head, share=share, from_root=m.from_root, manifest=digest,
    )  # fmt: skip
    chapter = await books.start_chapter(book, first, actor=actor)
    await logs.chapter(chapter).append_many(bodies, actor=[e.actor for e in envelopes])
    await books.register_shared(actor, book, chapter, title, share=share)
    return chapter


def _decoded(data: bytes) -> CopyManifest:
    try:
        return decode_manifest(data)
    except ValueError as exc:
        raise CopyRejected(str(exc)) from None


async def verify_copy_chapter(logs: Logs, blobs: BlobStore, chapter: str) -> CopyReport:
    """Check a copy chapter against the manifest its `ChapterForked` names (events/copies.py's
    `verify_copy`), reading the copy's log with its own chain verified."""
    log = logs.chapter(chapter)
    first = await log.get(1)
    body = None if first is None else first.envelope.body
    if not isinstance(body, ChapterForked) or body.manifest is None:
        return CopyReport(ok=False, checked=0, reason="the chapter is not a copy with a manifest")
    data = await blobs.get(body.manifest)
    count = 1 + len(_decoded(data).events)
    payloads: list[bytes] = []
    async for batch in log.read_batches(0, min(count, (await log.head()).rev), verify=True):
        payloads.extend(e.payload for e in batch)
    # A migrated copy sealed what the original carried inline: its personal blobs tie them.
    refs = [r for p in payloads[1:] if (r := getattr(decode(p).body, "sealed", None))]
    personal = await blobs.get_many(refs) if refs else {}
    return verify_copy(data, payloads, personal)
