"""Exporting a chapter as a verifiable archive, and importing one as a new chapter.

Export (`export_chapter`) reads the chapter once, verified, up to its head when asked, spooling
the events (exact payloads, revs, chain hashes) so that the manifest, which lists every file with
its size and BLAKE3, can come first; then `ChapterExport.chunks` streams the tar: manifest,
events, the book's key history (with rotation signatures), and every blob the events name. The
layout is events/archive.py's; docs/log-format.md says how to verify one with one's own code.

Import (`import_archive`) verifies the whole archive first (events/archive_check.py: files,
chain, head and root, signed heads against the archived keys, blobs), and only then restores it
as a NEW chapter of the caller's book, the way a copy share is imported (engine/copies.py): a copy
manifest is derived from the archive (the chain hashes and the exact original payloads of the
content events: sources and threads, taken at the archive's latest signed head when that covers
every content event, with the `HeadSigned`, the archived keys and inclusion proofs; else at its
last rev, unsigned) and stored as a blob; rev 1 is `ChapterForked` naming the archive's chapter,
that rev, head, Merkle root and that manifest; the content events follow, bodies unchanged, with
their original actors. So each imported fact verifies against the archive's signed root
(`verify_copy_chapter`). The original's identity events
(title, shares, signed heads) are not re-issued: the new chapter has its own. A bad archive is
refused (`ArchiveRejected`, naming the rev) before anything is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO

from engine.blobs import BlobStore
from engine.copies import import_copy
from engine.keys import BookKeys
from engine.rules import Conflict, Invalid, NotFound
from events import (
    ChapterCreated,
    ChapterForked,
    ChapterMirrored,
    ChapterRenamed,
    HeadSigned,
    decode,
)
from events.archive import (
    BLOBS_DIR,
    EVENTS_FILE,
    KEYS_FILE,
    MANIFEST_FILE,
    TAR_END,
    ArchiveFile,
    ArchiveHead,
    ArchiveKeys,
    ArchiveManifest,
    archived_blobs,
    encode_event_line,
    encode_json,
    erased_refs,
    tar_header,
    tar_padding,
)
from events.archive_check import ArchiveError, ArchiveReader, verify_archive
from events.copies import CopiedEvent, CopyManifest, merkle_root_hex
from events.heads import MerkleFrontier
from events.personal import open_sealed
from events.proofs import inclusion_proofs
from events.scopes import SCOPE_EVENTS, copied_types
from rust_core import GENESIS, Hasher

__all__ = [
    "ARCHIVE_SCOPE",
    "ArchiveIncomplete",
    "ArchiveRejected",
    "ChapterExport",
    "export_chapter",
    "import_archive",
]

ARCHIVE_SCOPE = list(SCOPE_EVENTS)
"""What an import re-issues: every content scope (sources, notes, threads)."""

_SPOOL_BYTES = 8 << 20
_CHUNK = 1 << 20


class ArchiveRejected(Invalid):
    """An archive that does not verify: nothing was imported (HTTP 422)."""

    code = "archive_rejected"


class ArchiveIncomplete(Conflict):
    """The chapter names a blob the store no longer has: no complete archive can be made."""

    code = "archive_incomplete"


class ChapterExport:
    """A chapter read for export: its manifest, then `chunks()` streams the tar once."""

    def __init__(
        self, manifest: ArchiveManifest, events: IO[bytes], keys: bytes, blobs: BlobStore
    ) -> None:
        self.manifest = manifest
        self._events = events
        self._keys = keys
        self._blobs = blobs

    @property
    def filename(self) -> str:
        """A file name for the archive: chapter and rev."""
        return f"{self.manifest.chapter}-rev{self.manifest.count}.tar"

    async def chunks(self) -> AsyncIterator[bytes]:
        """The tar, a piece at a time (closes the spooled events at the end)."""
        mtime = self.manifest.exported_at // 1000
        try:
            manifest = encode_json(self.manifest)
            yield tar_header(MANIFEST_FILE, len(manifest), mtime) + manifest
            yield tar_padding(len(manifest))
            for entry in self.manifest.files:
                yield tar_header(entry.name, entry.size, mtime)
                if entry.name == EVENTS_FILE:
                    self._events.seek(0)
                    while chunk := await asyncio.to_thread(self._events.read, _CHUNK):
                        yield chunk
                elif entry.name == KEYS_FILE:
                    yield self._keys
                else:
                    async for chunk in self._blob(entry):
                        yield chunk
                yield tar_padding(entry.size)
            yield TAR_END
        finally:
            self.close()

    async def _blob(self, entry: ArchiveFile) -> AsyncIterator[bytes]:
        sent = 0
        async for chunk in self._blobs.iter(entry.blake3):
            sent += len(chunk)
            if sent > entry.size:
                break
            yield chunk
        if sent != entry.size:  # the tar would be malformed past this point: stop it short
            raise ArchiveIncomplete(f"blob {entry.blake3} changed size during the export")

    def close(self) -> None:
        self._events.close()


async def export_chapter(keys: BookKeys, blobs: BlobStore, chapter: str) -> ChapterExport:
    """Read `chapter` (verified, up to its head now) for export; the caller has checked that the
    reader may read it. `ChainBroken` names a bad rev; `ArchiveIncomplete` a missing blob."""
    book = await keys.books.book_of(chapter)
    log = keys.logs.chapter(chapter)
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)  # noqa: SIM115
    try:
        digest, frontier, head, named = Hasher(), MerkleFrontier(), GENESIS, []
        erased: set[str] = set()
        async for batch in log.read_batches(0, (await log.head()).rev, verify=True):
            lines = b"".join(encode_event_line(e) for e in batch)
            digest.update(lines)
            await asyncio.to_thread(spool.write, lines)
            frontier.extend([e.hash for e in batch])
            head = batch[-1].hash
            bodies = [decode(e.payload).body for e in batch]
            named += archived_blobs(bodies)
            erased |= erased_refs(bodies)
        if frontier.size == 0:
            raise NotFound("no such chapter")
        history = await keys.history(book)
        keys_data = encode_json(ArchiveKeys(book=book, keys=history.keys))
        files = [
            ArchiveFile(name=EVENTS_FILE, size=spool.tell(), blake3=digest.hexdigest()),
            ArchiveFile(name=KEYS_FILE, size=len(keys_data), blake3=Hasher(keys_data).hexdigest()),
        ]
        for blob in dict.fromkeys(named):
            if blob in erased:
                continue  # the archive holds the events, never erased content
            if not await blobs.exists(blob):
                raise ArchiveIncomplete(f"the chapter names blob {blob}, which the store lacks")
            files.append(
                ArchiveFile(name=BLOBS_DIR + blob, size=await blobs.size(blob), blake3=blob)
            )
        manifest = ArchiveManifest(
            chapter=chapter,
            book=book,
            count=frontier.size,
            head=ArchiveHead(rev=frontier.size, hash=head.hex(), root=frontier.root().hex()),
            exported_at=int(time.time() * 1000),
            files=files,
        )
    except BaseException:
        spool.close()
        raise
    return ChapterExport(manifest, spool, keys_data, blobs)


_TITLED = ChapterCreated | ChapterForked | ChapterMirrored | ChapterRenamed


def _title(reader: ArchiveReader, body: object) -> str:
    """The title `body` (the chapter's last titled event, or None) gives, opened from its
    personal blob when sealed and the archive holds it."""
    if not isinstance(body, _TITLED):
        return ""
    if body.sealed is None:
        return body.title
    held = reader.blob(body.sealed) if reader.has_blob(body.sealed) else None
    return open_sealed(body, held).title  # type: ignore[union-attr]


def _copy_manifest(reader: ArchiveReader) -> tuple[CopyManifest, str]:
    """The copy manifest of everything the archive holds, and the chapter's last title.

    When the archive's latest v2 signed head covers every copied event (an export ends with one
    when the chapter was signed since its last change), the copy is taken at the rev it signs,
    with that `HeadSigned` and the archived keys: each imported fact is then proved against the
    original's signed root. Otherwise it is taken at the archive's last rev, unsigned."""
    m = reader.manifest
    tags = {t.__struct_config__.tag for t in copied_types(ARCHIVE_SCOPE)}
    hashes, events = bytearray(GENESIS), []
    titled: object = None  # only the last title counts: its blob is opened once, at the end
    signed: tuple[int, bytes] | None = None  # (the rev it signs, its payload)
    for batch in reader.events():
        for event in batch:
            hashes += event.hash
            envelope = decode(event.payload)
            if isinstance(envelope.body, _TITLED):
                titled = envelope.body
            if type(envelope.body).__struct_config__.tag in tags:
                events.append(CopiedEvent(event.rev, event.payload))
            elif isinstance(envelope.body, HeadSigned) and envelope.body.root is not None:
                signed = (envelope.body.rev, event.payload)
    upto = m.count
    if signed is not None and all(e.rev <= signed[0] for e in events):
        upto = signed[0]
    data = bytes(hashes[: (upto + 1) * 32])
    proved = signed is not None and upto == signed[0]
    manifest = CopyManifest(
        from_chapter=m.chapter, from_rev=upto, from_head=data[-32:].hex(),
        from_root=merkle_root_hex(data), scope=ARCHIVE_SCOPE, hashes=data, events=events,
        book=m.book, signed_head=signed[1] if signed is not None and proved else None,
        proofs=inclusion_proofs(data, [e.rev for e in events]) if proved else [],
        keys=reader.keys().keys if proved else [],
    )  # fmt: skip
    return manifest, _title(reader, titled)


def _open_verified(file: IO[bytes]) -> tuple[ArchiveReader, CopyManifest, str]:
    try:
        reader = ArchiveReader(file)
    except ArchiveError as exc:
        raise ArchiveRejected(f"the archive cannot be imported: {exc}") from None
    try:
        report = verify_archive(reader)
        if not report.ok:
            where = f" at rev {report.first_bad_rev}" if report.first_bad_rev else ""
            raise ArchiveRejected(f"the archive does not verify{where}: {report.reason}")
        manifest, title = _copy_manifest(reader)
    except BaseException:
        reader.close()
        raise
    return reader, manifest, title


async def import_archive(
    keys: BookKeys,
    blobs: BlobStore,
    *,
    actor: str,
    book: str,
    path: Path,
    title: str | None = None,
) -> str:
    """Import the archive at `path` into `book` for `actor` (a member): the new chapter's id.
    `ArchiveRejected` (nothing written) when it does not verify; `title` defaults to the
    archived chapter's."""
    (await keys.books.state(book, fresh=True)).require_member(actor)
    with path.open("rb") as file:
        reader, manifest, archived_title = await asyncio.to_thread(_open_verified, file)
        lock = asyncio.Lock()  # one tar, one file position: blobs are read one at a time

        async def fetch_blob(digest: str) -> bytes:
            if not reader.has_blob(digest):  # verify_archive checked every named blob is there
                raise ArchiveRejected(f"blob {digest} is missing from the archive")
            async with lock:
                return await asyncio.to_thread(reader.blob, digest)

        with contextlib.closing(reader):
            return await import_copy(
                keys.books, keys.logs, blobs, actor=actor, book=book,
                title=title or archived_title, share=None, manifest=manifest,
                fetch_blob=fetch_blob,
            )  # fmt: skip
