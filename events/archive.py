"""A chapter archive: the layout of the tar `ragstack export` writes, and writing one.

An archive holds everything needed to verify a chapter offline (docs/log-format.md, "Archives"):

    manifest.json     format, version, chapter, book, count, head {rev, hash, root}, files
    events.ndjson     one JSON object a line, rev 1..count: {"rev", "hash" (hex h[rev]),
                      "payload" (base64 of the exact stored bytes)}
    keys.json         the book's keys: {"book", "keys": [{key, from_rev, from_at, to_rev,
                      to_at, rotation}]}, the anchor first (events/keys.py `BookKey`)
    blobs/<hex>       every blob the events name, under its BLAKE3 hex

`manifest.json` comes first and lists every other file with its size and BLAKE3, so a truncated
or padded archive is told apart from a tampered event. The writer is streaming-friendly: the
manifest is known once the events are read, the blobs are copied after it (engine/archive.py
streams an export over HTTP from these pieces). Pure: the caller brings the bytes.
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterable, Mapping, Sequence
from typing import IO

import msgspec

from events.blobs import blobs_of_all
from events.chapter import ChapterForked, ContentErased
from events.envelope import DecodeError, RecordedEvent
from events.heads import MerkleFrontier
from events.keys import BookKey
from rust_core import GENESIS
from rust_core import hash as blake3

__all__ = [
    "ARCHIVE_FORMAT",
    "ARCHIVE_MEDIA_TYPE",
    "ARCHIVE_VERSION",
    "BLOBS_DIR",
    "EVENTS_FILE",
    "KEYS_FILE",
    "MANIFEST_FILE",
    "TAR_END",
    "ArchiveFile",
    "ArchiveHead",
    "ArchiveKeys",
    "ArchiveManifest",
    "ArchivedEvent",
    "archived_blobs",
    "decode_event_line",
    "encode_event_line",
    "encode_json",
    "erased_refs",
    "tar_header",
    "tar_padding",
    "write_archive",
]

ARCHIVE_FORMAT = "ragstack.chapter-archive"
"""The manifest's `format`."""
ARCHIVE_VERSION = 1
"""The manifest's `version`: this layout."""
MANIFEST_FILE = "manifest.json"
EVENTS_FILE = "events.ndjson"
KEYS_FILE = "keys.json"
BLOBS_DIR = "blobs/"
ARCHIVE_MEDIA_TYPE = "application/x-tar"

_BLOCK = 512
TAR_END = bytes(2 * _BLOCK)
"""The two zero blocks that end a tar."""


class ArchiveFile(msgspec.Struct, frozen=True, kw_only=True):
    """One file of the archive besides the manifest."""

    name: str
    """Its path in the tar."""
    size: int
    """Its length in bytes."""
    blake3: str
    """BLAKE3 hex of its bytes."""


class ArchiveHead(msgspec.Struct, frozen=True, kw_only=True):
    """The chapter's head as exported."""

    rev: int
    """The last rev in the archive (= `count`: archives start at rev 1)."""
    hash: str
    """Hex h[rev] (64 zeros for an empty chapter)."""
    root: str
    """Hex RFC 9162 Merkle root over h[1..rev]."""


class ArchiveManifest(msgspec.Struct, frozen=True, kw_only=True):
    """`manifest.json`."""

    format: str = ARCHIVE_FORMAT
    version: int = ARCHIVE_VERSION
    chapter: str
    """The chapter id every envelope names."""
    book: str
    """The chapter's book: its keys are in `keys.json`."""
    count: int
    """How many events (revs 1..count)."""
    head: ArchiveHead
    exported_at: int
    """Unix ms of the export."""
    files: list[ArchiveFile]
    """Every other file: events, keys, then blobs."""


class ArchivedEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One line of `events.ndjson`."""

    rev: int
    hash: str
    """Hex chain hash h[rev]."""
    payload: bytes
    """The stored bytes (base64 in JSON)."""


class ArchiveKeys(msgspec.Struct, frozen=True, kw_only=True):
    """`keys.json`: the book's key history as `GET /v1/books/{book}/keys` lists it."""

    book: str
    keys: list[BookKey]


_json = msgspec.json.Encoder()
_line_decoder = msgspec.json.Decoder(ArchivedEvent)


def encode_json(value: object) -> bytes:
    """A manifest or keys file's bytes (compact JSON)."""
    return _json.encode(value)


def encode_event_line(event: RecordedEvent) -> bytes:
    """One line of `events.ndjson`, newline included."""
    line = ArchivedEvent(rev=event.rev, hash=event.hash.hex(), payload=event.payload)
    return _json.encode(line) + b"\n"


def decode_event_line(line: bytes) -> RecordedEvent:
    """An event from its line; `DecodeError` when the line is not one."""
    try:
        item = _line_decoder.decode(line)
        digest = bytes.fromhex(item.hash)
    except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
        raise DecodeError(f"not an archived event: {exc}") from None
    return RecordedEvent(rev=item.rev, hash=digest, payload=item.payload)


def archived_blobs(bodies: Iterable[object]) -> list[str]:
    """The blobs an archive of these bodies holds: those the events name (events/blobs.py) and
    a copy's manifest."""
    bodies = list(bodies)
    forks = [b.manifest for b in bodies if isinstance(b, ChapterForked) and b.manifest]
    return list(dict.fromkeys([*blobs_of_all(bodies), *forks]))


def erased_refs(bodies: Iterable[object]) -> set[str]:
    """The blobs the bodies' `ContentErased` events name: an archive may lack them (they were
    erased; docs/log-format.md, "Erasure")."""
    return {r for b in bodies if isinstance(b, ContentErased) for r in b.refs}


def tar_header(name: str, size: int, mtime: int) -> bytes:
    """The ustar header block of a regular file."""
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, mtime, 0o644
    return info.tobuf(format=tarfile.USTAR_FORMAT, encoding="utf-8", errors="strict")


def tar_padding(size: int) -> bytes:
    """The zeros after a file's bytes, up to the next block."""
    return bytes(-size % _BLOCK)


def _member(out: IO[bytes], name: str, data: bytes, mtime: int) -> None:
    out.write(tar_header(name, len(data), mtime))
    out.write(data)
    out.write(tar_padding(len(data)))


def write_archive(
    out: IO[bytes],
    *,
    chapter: str,
    book: str,
    events: Sequence[RecordedEvent],
    keys: Sequence[BookKey],
    blobs: Mapping[str, bytes],
    exported_at: int,
) -> ArchiveManifest:
    """Write the archive of `events` (the chapter from rev 1, as stored) to `out`, in memory:
    for tests and small chapters (engine/archive.py streams large ones)."""
    events_data = b"".join(encode_event_line(e) for e in events)
    keys_data = encode_json(ArchiveKeys(book=book, keys=list(keys)))
    files = [
        ArchiveFile(name=EVENTS_FILE, size=len(events_data), blake3=blake3(events_data).hex()),
        ArchiveFile(name=KEYS_FILE, size=len(keys_data), blake3=blake3(keys_data).hex()),
        *(ArchiveFile(name=BLOBS_DIR + h, size=len(blobs[h]), blake3=h) for h in blobs),
    ]
    frontier = MerkleFrontier()
    frontier.extend([e.hash for e in events])
    head = events[-1].hash if events else GENESIS
    manifest = ArchiveManifest(
        chapter=chapter,
        book=book,
        count=len(events),
        head=ArchiveHead(rev=len(events), hash=head.hex(), root=frontier.root().hex()),
        exported_at=exported_at,
        files=files,
    )
    mtime = exported_at // 1000
    _member(out, MANIFEST_FILE, encode_json(manifest), mtime)
    _member(out, EVENTS_FILE, events_data, mtime)
    _member(out, KEYS_FILE, keys_data, mtime)
    for digest, data in blobs.items():
        _member(out, BLOBS_DIR + digest, data, mtime)
    out.write(TAR_END)
    return manifest
