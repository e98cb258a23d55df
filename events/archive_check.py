"""Reading a chapter archive (events/archive.py) and verifying it offline, naming the first fault.

`ArchiveReader` opens the tar and checks its files against the manifest (present, no others,
each of the listed size and BLAKE3); `verify_archive` then checks the chapter as the engine checks
a log (events/chain.py, events/heads.py): the chain from the payloads, every envelope naming the
chapter and its rev, the head and Merkle root the manifest claims, every `HeadSigned` against the
book's key history in `keys.json` (each rotation signed by the key before it), and that every blob
an event names is in the archive under its own hash. A fault in an event names its rev. An
archive of a copy holds the copy's manifest (a blob its `ChapterForked` names), so the copy is
checked against its original too (events/copies.py's `verify_copy`: every copied event against
the original's bytes and, where the manifest has one, its signed root, by the keys the manifest
carries, as they were pinned when the copy was taken).

Pure apart from reading the file the caller names or opened; the engine's import and the
client's `ragstack verify --archive` share it.
"""

from __future__ import annotations

import os
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import msgspec

from events.archive import (
    ARCHIVE_FORMAT,
    ARCHIVE_VERSION,
    BLOBS_DIR,
    EVENTS_FILE,
    KEYS_FILE,
    MANIFEST_FILE,
    ArchiveKeys,
    ArchiveManifest,
    archived_blobs,
    decode_event_line,
    erased_refs,
)
from events.chain import ChainCheck
from events.chapter import ChapterForked
from events.copies import decode_manifest, verify_copy
from events.envelope import DecodeError, RecordedEvent, decode
from events.heads import HeadCheck, MerkleFrontier
from events.keys import KeyHistory
from rust_core import Hasher

__all__ = [
    "ArchiveError",
    "ArchiveReader",
    "ArchiveReport",
    "describe",
    "verify_archive",
    "verify_archive_file",
]

_BATCH = 1000
_READ = 1 << 20


class ArchiveError(ValueError):
    """The archive as a whole cannot be read: not a tar, truncated, a file missing or altered."""


class ArchiveReport(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of verifying an archive."""

    ok: bool
    chapter: str = ""
    book: str = ""
    events: int = 0
    """Events that verified, in order from rev 1."""
    head_rev: int = 0
    """The last rev that verified."""
    head: str = ""
    """Hex h[head_rev]."""
    root: str = ""
    """Hex Merkle root over h[1..head_rev] (when every event verified)."""
    signed: int = 0
    """Signed heads that verified."""
    blobs: int = 0
    """Blobs the events name, all present and intact when ok."""
    first_bad_rev: int | None = None
    """The first rev that does not verify (an event or a `HeadSigned`)."""
    bad_book_rev: int | None = None
    """The book rev of a fault in keys.json's key history."""
    reason: str | None = None


class ArchiveReader:
    """An archive opened for reading; `ArchiveError` when its files do not match its manifest."""

    def __init__(self, file: IO[bytes]) -> None:
        try:
            self._tar = tarfile.open(fileobj=file, mode="r:")  # noqa: SIM115 (closed by close())
            members = self._tar.getmembers()
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise ArchiveError(f"not a readable tar archive: {exc}") from None
        if not members or members[0].name != MANIFEST_FILE:
            raise ArchiveError(f"the archive does not start with {MANIFEST_FILE}")
        self._members = {m.name: m for m in members}
        if len(self._members) != len(members):
            raise ArchiveError("a file appears twice in the archive")
        try:
            self.manifest = msgspec.json.decode(self._read(MANIFEST_FILE), type=ArchiveManifest)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise ArchiveError(f"{MANIFEST_FILE} is not an archive manifest: {exc}") from None
        m = self.manifest
        if (m.format, m.version) != (ARCHIVE_FORMAT, ARCHIVE_VERSION):
            raise ArchiveError(f"unknown archive format {m.format!r} version {m.version}")
        self._check_files(members)

    def _check_files(self, members: list[tarfile.TarInfo]) -> None:
        listed = {f.name: f for f in self.manifest.files}
        for name in (EVENTS_FILE, KEYS_FILE):
            if name not in listed:
                raise ArchiveError(f"the manifest does not list {name}")
        for member in members[1:]:
            if member.name not in listed or not member.isfile():
                raise ArchiveError(f"{member.name} is in the archive but not in its manifest")
        for name, entry in listed.items():
            member = self._members.get(name)
            if member is None:
                raise ArchiveError(f"{name} is missing from the archive (truncated or incomplete)")
            if member.size != entry.size:
                raise ArchiveError(f"{name} is {member.size} bytes, the manifest says {entry.size}")
            if name.startswith(BLOBS_DIR) and name[len(BLOBS_DIR) :] != entry.blake3:
                raise ArchiveError(f"{name} is listed with another BLAKE3 than its name")
            if self._digest(name) != entry.blake3:
                raise ArchiveError(f"{name} does not match its BLAKE3 in the manifest (altered)")

    def _open(self, name: str) -> IO[bytes]:
        handle = self._tar.extractfile(self._members[name])
        if handle is None:
            raise ArchiveError(f"{name} is not a regular file")
        return handle

    def _read(self, name: str) -> bytes:
        try:
            return self._open(name).read()
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise ArchiveError(f"{name} cannot be read (truncated archive?): {exc}") from None

    def _digest(self, name: str) -> str:
        hasher = Hasher()
        try:
            handle = self._open(name)
            while chunk := handle.read(_READ):
                hasher.update(chunk)
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise ArchiveError(f"{name} cannot be read (truncated archive?): {exc}") from None
        return hasher.hexdigest()

    def keys(self) -> KeyHistory:
        """The book's key history from keys.json, re-checked (its rotations' signatures)."""
        try:
            listed = msgspec.json.decode(self._read(KEYS_FILE), type=ArchiveKeys)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise ArchiveError(f"{KEYS_FILE} is not a key list: {exc}") from None
        if listed.book != self.manifest.book:
            raise ArchiveError(f"{KEYS_FILE} lists the keys of another book ({listed.book})")
        return KeyHistory.of_keys(listed.book, listed.keys)

    def events(self) -> Iterator[list[RecordedEvent]]:
        """events.ndjson in batches; `DecodeError` names the line (= rev) that is not an event."""
        batch: list[RecordedEvent] = []
        for number, line in enumerate(self._open(EVENTS_FILE), start=1):
            try:
                batch.append(decode_event_line(line))
            except DecodeError as exc:
                if batch:  # the lines before it are checked first: the fault names its own rev
                    yield batch
                raise DecodeError(f"line {number} of {EVENTS_FILE}: {exc}") from None
            if len(batch) == _BATCH:
                yield batch
                batch = []
        if batch:
            yield batch

    def has_blob(self, digest: str) -> bool:
        """Whether the archive holds the blob `digest` (checked against its name when opened)."""
        return BLOBS_DIR + digest in self._members

    def blob(self, digest: str) -> bytes:
        """A blob's bytes."""
        return self._read(BLOBS_DIR + digest)

    def close(self) -> None:
        """Close the tar (not the file object the caller opened)."""
        self._tar.close()

    def __enter__(self) -> ArchiveReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _book_of(payload: bytes) -> str | None:
    try:
        return getattr(decode(payload).body, "book", None)
    except DecodeError:
        return None


class _CopyCheck:
    """For an archive of a copy: its manifest and the copy's first payloads, which it checks."""

    def __init__(self, reader: ArchiveReader) -> None:
        self.reader = reader
        self.manifest: bytes | None = None
        self.needed = 0
        self.payloads: list[bytes] = []

    def feed(self, events: list[RecordedEvent]) -> None:
        for event in events:
            if event.rev == 1:
                self._start(event.payload)
            if len(self.payloads) < self.needed:
                self.payloads.append(event.payload)

    def _start(self, payload: bytes) -> None:
        try:
            body = decode(payload).body
        except DecodeError:
            return
        if not isinstance(body, ChapterForked) or not body.manifest:
            return
        if not self.reader.has_blob(body.manifest):
            return  # reported as a blob the events name and the archive lacks
        self.manifest = self.reader.blob(body.manifest)
        try:
            self.needed = 1 + len(decode_manifest(self.manifest).events)
        except DecodeError:
            self.needed = 1  # verify_copy says what is wrong with it

    def fault(self) -> tuple[int, str] | None:
        """The copy's rev and why, when the copy does not verify against its original."""
        if self.manifest is None:
            return None
        # A migrated copy sealed what the original carried inline: its personal blobs, where the
        # archive holds them (not erased), must open to the original's values.
        refs = [r for p in self.payloads[1:] if (r := getattr(decode(p).body, "sealed", None))]
        personal = {r: self.reader.blob(r) for r in refs if self.reader.has_blob(r)}
        report = verify_copy(self.manifest, self.payloads, personal=personal)
        return None if report.ok else report.copy_fault()


def verify_archive(reader: ArchiveReader) -> ArchiveReport:
    """Verify an opened archive (see the module docstring); the first fault stops the check."""
    m = reader.manifest
    keys = reader.keys()
    chain, heads, frontier = ChainCheck(m.chapter), HeadCheck(m.chapter, keys), MerkleFrontier()
    copy = _CopyCheck(reader)
    named: list[str] = []
    erased: set[str] = set()
    reason: str | None = None
    try:
        for batch in reader.events():
            fine = chain.feed_events(batch)
            good = batch[: chain.verified - frontier.size]
            heads.feed([e.payload for e in good], [e.hash for e in good])
            frontier.extend([e.hash for e in good])
            copy.feed(good)
            if good and good[0].rev == 1 and _book_of(good[0].payload) != m.book:
                chain.fail(1, f"rev 1 does not name the archive's book {m.book}")
            for event in good:
                try:
                    body = decode(event.payload).body
                    named += archived_blobs([body])
                    erased |= erased_refs([body])
                except DecodeError as exc:
                    chain.fail(event.rev, f"the event at rev {event.rev} does not decode: {exc}")
                    break
            if not fine or heads.failed or chain.failed:
                break
    except DecodeError as exc:
        chain.fail(chain.next_rev, str(exc))
    bad, reason = chain.bad_rev, chain.reason
    if heads.bad_rev is not None and (bad is None or heads.bad_rev < bad):
        bad, reason = heads.bad_rev, heads.reason
    verified = chain.verified if bad is None else bad - 1
    head = heads.hash_at(verified)
    if bad is None and verified != m.count:
        bad, reason = verified + 1, f"the archive holds {verified} events, its manifest {m.count}"
    elif bad is None and (m.head.rev, m.head.hash) != (verified, head.hex()):
        bad, reason = m.head.rev, f"the manifest's head is not h[{m.head.rev}] of the events"
    elif bad is None and m.head.root != frontier.root().hex():
        bad, reason = m.head.rev, f"the manifest's root is not the Merkle root over h[1..{m.count}]"
    if bad is None and (fault := copy.fault()) is not None:
        bad, reason = fault
    missing = [h for h in dict.fromkeys(named) if not reader.has_blob(h) and h not in erased]
    if bad is None and missing:
        reason = f"blob {missing[0]} is named by the events but missing from the archive"
    if reason is None and keys.failed:
        reason = f"the book's key history in {KEYS_FILE} is broken at {keys.reason}"
    return ArchiveReport(
        ok=reason is None,
        chapter=m.chapter,
        book=m.book,
        events=verified,
        head_rev=verified,
        head=head.hex(),
        root=frontier.root().hex() if bad is None else "",
        signed=heads.signed,
        blobs=len(set(named)),
        first_bad_rev=bad,
        bad_book_rev=keys.bad_rev,
        reason=reason,
    )


def verify_archive_file(path: str | os.PathLike[str]) -> ArchiveReport:
    """Verify the archive at `path` (blocking: from async code, run it in a thread)."""
    with Path(path).open("rb") as file:
        try:
            with ArchiveReader(file) as reader:
                return verify_archive(reader)
        except ArchiveError as exc:
            return ArchiveReport(ok=False, reason=str(exc))


def describe(report: ArchiveReport) -> str:
    """One line for a person."""
    if report.ok:
        return (
            f"{report.events} events of chapter {report.chapter} verify; head rev "
            f"{report.head_rev} hash {report.head}; {report.signed} signed heads; "
            f"{report.blobs} blobs"
        )
    where = f"rev {report.first_bad_rev}: " if report.first_bad_rev is not None else ""
    return where + (report.reason or "the archive does not verify")
