"""Copy shares: the owner's snapshot manifest, and importing it as a chapter of the guest's book.

The owner's side reads the chapter once, verified, up to a rev and keeps the in-scope events'
exact payloads with every chain hash h[0..rev], the Merkle root over h[1..rev] and each copied
event's inclusion proof (`build_manifest`; the format is events/copies.py's). `share_snapshot` is
what a copy share's token opens: the chapter at its latest signed head, signed first when the head
is a change nobody signed yet, with that `HeadSigned` and the book's keys in the manifest, so
that every copied event is proved against a root the original's book signed. A copy is a snapshot taken when the guest
accepts (as the issue asks of a new guest's first look), not when the share was granted: the
grant says "you may take a copy", and the owner's later work up to the accept is part of it.

The guest's side (`import_copy`) checks the manifest (and its signed head, against the keys the
caller trusts, else those the manifest carries: trust on first use), copies the blobs its events name, then
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
from engine.errors import BlobCorrupt, BlobNotFound, ChainBroken
from engine.keys import KEYS_ACTOR, BookKeys
from engine.log import Log, Logs
from engine.personal import open_bodies
from engine.rules import Conflict, Invalid, NotFound
from engine.shares import ShareAccess
from engine.verify import VerifyReport, book_key_history, verify_log
from events import (
    ChapterCreated,
    ChapterForked,
    ChapterMirrored,
    ChapterRenamed,
    HeadSigned,
    RecordedEvent,
    decode,
)
from events.archive import erased_refs
from events.blobs import blobs_of_all
from events.copies import (
    CopiedEvent,
    CopyManifest,
    CopyReport,
    check_manifest,
    check_signed,
    decode_manifest,
    encode_manifest,
    merkle_root_hex,
    verify_copy,
)
from events.keys import BookKey, KeyHistory
from events.proofs import inclusion_proofs
from events.scopes import copied_types
from rust_core import GENESIS

__all__ = [
    "BLOB_COPIES_AT_ONCE",
    "CopyRejected",
    "FetchBlob",
    "NotACopyShare",
    "build_manifest",
    "copy_manifest",
    "import_copy",
    "migrate_chapter",
    "share_snapshot",
    "signed_manifest",
    "verify_chapter",
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


async def build_manifest(
    log: Log,
    *,
    upto: int,
    scope: Iterable[str],
    book: str | None = None,
    signed_head: RecordedEvent | None = None,
    keys: Sequence[BookKey] = (),
) -> CopyManifest:
    """The manifest of a copy of `log` at rev `upto` (<= its head) for a share with `scope`,
    read in batches with the chain verified (`ChainBroken` names a bad rev), with each copied
    event's inclusion proof. `signed_head` (the original's `HeadSigned` of `upto`), `book` and
    its `keys` go into the manifest as they are (`signed_manifest` brings them)."""
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
        book=book,
        signed_head=None if signed_head is None else signed_head.payload,
        proofs=inclusion_proofs(data, [e.rev for e in events]),
        keys=list(keys),
    )


_SIGN_TRIES = 5


async def _latest_signed(keys: BookKeys, chapter: str) -> RecordedEvent:
    """The chapter's `HeadSigned` at its head, signing the head first when it is a change."""
    log = keys.logs.chapter(chapter)
    for _ in range(_SIGN_TRIES):
        signed = await keys.sign_head(KEYS_ACTOR, chapter, by_process=True)
        if signed is None:  # the head is a signature already, or the chapter moved meanwhile
            head = await log.head()
            signed = await log.get(head.rev) if head.rev else None
        if signed is not None and isinstance(signed.envelope.body, HeadSigned):
            return signed
    raise Conflict("the chapter is changing too fast to sign its head for a copy; try again")


async def signed_manifest(keys: BookKeys, chapter: str, scope: Iterable[str]) -> CopyManifest:
    """The manifest of a copy of `chapter` at its latest signed head (signed now when the head
    is an unsigned change): the `HeadSigned`, the book and its keys included, and the whole
    checked here as a guest will check it, against the book's own key history."""
    book = await keys.books.book_of(chapter)
    signed = await _latest_signed(keys, chapter)
    body = signed.envelope.body
    assert isinstance(body, HeadSigned)
    history = await keys.history(book)
    manifest = await build_manifest(
        keys.logs.chapter(chapter), upto=body.rev, scope=scope, book=book,
        signed_head=signed, keys=history.keys,
    )  # fmt: skip
    report = check_signed(manifest, history, required=True)
    if not report.ok:  # the log or its signature is broken: serve no copy of it
        raise ChainBroken(chapter, signed.rev, report.reason or "the signed head does not verify")
    return manifest


async def share_snapshot(keys: BookKeys, access: ShareAccess) -> bytes:
    """The manifest bytes of the copy share `access` (resolved from its token), at the
    chapter's latest signed head now (`signed_manifest`); `NotACopyShare` for a live share."""
    if access.mode != "copy":
        raise NotACopyShare(
            f"this is a {access.mode} share: only a copy share has a snapshot; follow a "
            "live share through POST /v1/shares/{token}/connect"
        )
    return encode_manifest(await signed_manifest(keys, access.chapter, access.scope))


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
    titled = None  # only the last title counts: its personal blob is opened once, at the end
    async for recorded in log.read():
        body = recorded.envelope.body
        if isinstance(body, ChapterCreated | ChapterRenamed | ChapterForked | ChapterMirrored):
            titled = body
    title = ""
    if titled is not None:
        (opened,) = await open_bodies(log.blobs, [titled])
        title = opened.title  # type: ignore[attr-defined]
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
    keys: KeyHistory | None = None,
    require_signed: bool = False,
) -> str:
    """Import a copy into `book` for `actor` (a member); the new chapter's id. `share` is the
    copy share it came from (None: an archive, engine/archive.py).

    The manifest is checked first (`CopyRejected`, nothing written), with its signed head and
    every inclusion proof (`check_signed`: against `keys`, the original book's key history when
    this server has it, else the keys the manifest carries; `require_signed` refuses a manifest
    without a signed head), then the blobs its events
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
    if report.ok:
        report = check_signed(m, keys, required=require_signed)
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


async def _fork(logs: Logs, chapter: str) -> ChapterForked | None:
    first = await logs.chapter(chapter).get(1)
    body = None if first is None else first.envelope.body
    return body if isinstance(body, ChapterForked) and body.manifest is not None else None


async def _manifest_blob(blobs: BlobStore, fork: ChapterForked | None) -> bytes:
    if fork is None or fork.manifest is None:
        raise NotFound("the chapter is not a copy with a manifest")
    try:
        return await blobs.get(fork.manifest)
    except BlobNotFound:
        raise NotFound(f"the copy's manifest blob {fork.manifest} is missing") from None


async def copy_manifest(logs: Logs, blobs: BlobStore, chapter: str) -> bytes:
    """The manifest blob a copy chapter's `ChapterForked` names, as stored (for a client to
    check the copy itself); `NotFound` for a chapter that is no copy, or a missing blob."""
    return await _manifest_blob(blobs, await _fork(logs, chapter))


class _SealedRef(msgspec.Struct):
    sealed: str | None = None


class _SealedOf(msgspec.Struct):
    """What `verify_copy_chapter` reads of a copied event: its personal blob's ref, if any
    (the rest is skipped; `verify_copy` reads the payloads itself)."""

    body: _SealedRef


_sealed_decoder = msgspec.msgpack.Decoder(_SealedOf)


class _ManifestHead(msgspec.Struct):
    """What `verify_copy_chapter` reads of a manifest before `verify_copy` decodes it whole:
    its book, and how many events it copied (left encoded)."""

    events: list[msgspec.Raw]
    book: str | None = None


_head_decoder = msgspec.msgpack.Decoder(_ManifestHead)


def _sealed_ref(payload: bytes) -> str | None:
    try:
        return _sealed_decoder.decode(payload).body.sealed
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None  # not an event: verify_copy names the fault


async def verify_copy_chapter(
    logs: Logs, blobs: BlobStore, chapter: str, *, require_signed: bool = False
) -> CopyReport:
    """Check a copy chapter against the manifest its `ChapterForked` names (events/copies.py's
    `verify_copy`), reading the copy's log with its own chain verified. Its signed head is
    checked against the original book's key history when this server holds that book's log (a
    copy taken here), else against the keys the manifest carries (pinned when it was taken)."""
    fork = await _fork(logs, chapter)
    if fork is None:
        return CopyReport(ok=False, checked=0, reason="the chapter is not a copy with a manifest")
    return await _verify_fork(logs, blobs, chapter, fork, require_signed=require_signed)


async def _verify_fork(
    logs: Logs, blobs: BlobStore, chapter: str, fork: ChapterForked, *, require_signed: bool
) -> CopyReport:
    """`verify_copy_chapter` of a chapter whose first event, `fork`, was read already."""
    try:
        data = await _manifest_blob(blobs, fork)
    except NotFound as exc:
        return CopyReport(ok=False, checked=0, copy_rev=1, reason=str(exc))
    try:
        head = _head_decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        head = _ManifestHead(events=[])  # not a manifest: verify_copy reports why, as a fault
    log = logs.chapter(chapter)
    count = 1 + len(head.events)
    payloads: list[bytes] = []
    async for batch in log.read_batches(0, min(count, (await log.head()).rev), verify=True):
        payloads.extend(e.payload for e in batch)
    # A migrated copy sealed what the original carried inline: its personal blobs tie them.
    refs = [r for p in payloads[1:] if (r := _sealed_ref(p))]
    personal = await blobs.get_many(refs) if refs else {}
    history = None if head.book is None else await book_key_history(logs, head.book)
    return verify_copy(
        data, payloads, keys=history, require_signed=require_signed, personal=personal
    )


async def verify_chapter(
    logs: Logs, blobs: BlobStore, chapter: str, keys: KeyHistory | None
) -> VerifyReport:
    """`verify_log` (with `keys`, the chapter's own book's key history), and for a copy with a
    manifest, `verify_copy_chapter` too: a copied event that is not the original's, or a
    manifest whose signed root does not hold, fails the chapter at the copy's rev."""
    log = logs.chapter(chapter)
    report = await verify_log(log, keys=keys)
    if not report.ok or (fork := await _fork(logs, chapter)) is None:
        return report
    copy = await _verify_fork(logs, blobs, chapter, fork, require_signed=False)
    if copy.ok:
        return report
    bad, reason = copy.copy_fault()
    return msgspec.structs.replace(report, ok=False, first_bad_rev=bad, reason=reason)
