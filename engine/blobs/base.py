"""What every blob store shares: the address (a BLAKE3 hash), the `BlobStore` contract, and the
hashing and spooling helpers both backends (`local.py`, `s3.py`) build on.

Streamed uploads (`put_stream`, `put_file`) and streamed reads (`iter`, which verifies the whole
blob before its first chunk) are hashed with the incremental `rust_core.Hasher`, one CHUNK_SIZE
piece at a time, so their memory stays bounded whatever the blob's size.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import tempfile
from abc import ABC, abstractmethod
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import msgspec

import rust_core
from engine.errors import (
    BlobCorrupt,
    BlobNotFound,
    BlobTooLarge,
    InvalidBlobHash,
)

__all__ = [
    "CHUNK_SIZE",
    "BlobInfo",
    "BlobStore",
    "blob_hash",
    "check_hash",
    "discard",
    "finish_file",
    "fsync_dir",
    "hash_file",
    "hash_in_thread",
    "hash_open_file",
    "spool",
    "verified",
]

CHUNK_SIZE = 1024 * 1024
"""Bytes per chunk when streaming, and per write when spooling an upload to disk."""

_HASH = re.compile(r"[0-9a-f]{64}")
_INLINE_HASH_LIMIT = 64 * 1024


class BlobInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What a streamed put stored."""

    hash: str
    """Hex BLAKE3 digest of the content: the blob's address."""
    size: int
    """Length of the content in bytes."""


def blob_hash(data: bytes) -> str:
    """The address `data` is stored under."""
    return rust_core.hash(data).hex()


def check_hash(value: object) -> str:
    """Return `value` if it is a blob address (64 lower-case hex digits), else raise InvalidBlobHash.

    Only the canonical spelling is accepted so that one blob has exactly one name, and so that
    an address can never carry a path separator into a file name or object key.
    """
    if not isinstance(value, str) or _HASH.fullmatch(value) is None:
        shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
        raise InvalidBlobHash(
            f"not a blob hash: {shown} (expected 64 lower-case hex digits of a BLAKE3 digest)"
        )
    return value


def verified(expected: str, data: bytes, where: str) -> bytes:
    actual = blob_hash(data)
    if actual != expected:
        raise BlobCorrupt(expected, actual, where)
    return data


async def hash_in_thread(data: bytes) -> str:
    # Large inputs are hashed in a thread (rust_core releases the GIL) to keep the loop responsive.
    if len(data) <= _INLINE_HASH_LIMIT:
        return blob_hash(data)
    return await asyncio.to_thread(blob_hash, data)


def hash_file(path: Path) -> str:
    # Incremental, one CHUNK_SIZE piece at a time: a large upload is never held in memory whole.
    with path.open("rb") as file:
        return hash_open_file(file)


def hash_open_file(file: BinaryIO) -> str:
    hasher = rust_core.Hasher()
    piece = bytearray(CHUNK_SIZE)
    view = memoryview(piece)
    while n := file.readinto(piece):
        hasher.update(view[:n])
    return hasher.hexdigest()


def discard(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def fsync_dir(path: Path) -> None:
    # A rename or a new entry is durable only once its directory is flushed.
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


async def spool(
    chunks: AsyncIterable[bytes], directory: Path, max_size: int | None
) -> tuple[Path, int]:
    """Write `chunks` to a new temporary file in `directory`, flushed to disk; return it and its size.

    Past `max_size` the file is removed and BlobTooLarge raised, so an oversized upload keeps nothing.
    """
    fd, name = await asyncio.to_thread(tempfile.mkstemp, prefix=".incoming-", dir=directory)
    path = Path(name)
    size = 0
    try:
        with os.fdopen(fd, "wb") as file:
            pending: list[bytes] = []
            pending_size = 0
            async for chunk in chunks:
                size += len(chunk)
                if max_size is not None and size > max_size:
                    raise BlobTooLarge(max_size)
                pending.append(bytes(chunk))
                pending_size += len(chunk)
                # Batch small chunks so a thread hop carries about CHUNK_SIZE bytes.
                if pending_size >= CHUNK_SIZE:
                    await asyncio.to_thread(file.write, b"".join(pending))
                    pending, pending_size = [], 0
            await asyncio.to_thread(finish_file, file, b"".join(pending))
    except BaseException:
        discard(path)
        raise
    return path, size


def finish_file(file: Any, tail: bytes) -> None:
    file.write(tail)
    file.flush()
    os.fsync(file.fileno())


async def file_chunks(path: Path) -> AsyncIterator[bytes]:
    file = await asyncio.to_thread(open, path, "rb")
    try:
        while chunk := await asyncio.to_thread(file.read, CHUNK_SIZE):
            yield chunk
    finally:
        file.close()


class BlobStore(ABC):
    """Content-addressed byte storage. Every method is safe to call from many tasks at once."""

    @abstractmethod
    async def put(self, data: bytes) -> str:
        """Store `data` and return its hash. Storing the same bytes again changes nothing."""

    @abstractmethod
    async def put_stream(
        self, chunks: AsyncIterable[bytes], *, max_size: int | None = None
    ) -> BlobInfo:
        """Store the concatenation of `chunks` (an upload) without holding it in memory first.

        Raises BlobTooLarge, and keeps nothing, once more than `max_size` bytes have arrived.
        """

    async def put_file(self, path: str | os.PathLike[str], *, max_size: int | None = None) -> str:
        """Store the content of the file at `path` and return its hash."""
        return (await self.put_stream(file_chunks(Path(path)), max_size=max_size)).hash

    @abstractmethod
    async def get(self, hash: str) -> bytes:
        """The bytes stored under `hash`; BlobNotFound if none, BlobCorrupt if they fail the hash."""

    async def iter(self, hash: str, *, chunk_size: int = CHUNK_SIZE) -> AsyncIterator[bytes]:
        """The bytes stored under `hash` in chunks of at most `chunk_size`.

        The content is verified before the first chunk is yielded, so a consumer never receives
        part of a corrupt blob.
        """
        if chunk_size <= 0:
            raise ValueError(f"chunk_size must be positive, got {chunk_size}")
        data = memoryview(await self.get(hash))
        for start in range(0, len(data), chunk_size):
            yield bytes(data[start : start + chunk_size])

    async def get_many(self, hashes: Sequence[str]) -> dict[str, bytes | None]:
        """Many small blobs at once (personal blobs, read for a whole batch of events): each
        hash's bytes, or None when it is not stored (erased). BlobCorrupt as for `get`.
        Backends override this to save a round trip per blob."""
        found: dict[str, bytes | None] = {}
        for start in range(0, len(hashes), 32):
            part = list(dict.fromkeys(hashes[start : start + 32]))
            got = await asyncio.gather(*(self._get_or_none(h) for h in part))
            found.update(zip(part, got, strict=True))
        return found

    async def _get_or_none(self, hash: str) -> bytes | None:
        try:
            return await self.get(hash)
        except BlobNotFound:
            return None

    async def put_many(self, blobs: Sequence[bytes]) -> list[str]:
        """Store many small blobs (the personal blobs of a bulk append); their hashes, in order."""
        return [await self.put(data) for data in blobs]

    @abstractmethod
    async def exists(self, hash: str) -> bool:
        """Whether a blob is stored under `hash` (its content is not verified)."""

    @abstractmethod
    async def size(self, hash: str) -> int:
        """Length in bytes of the blob stored under `hash`; BlobNotFound if none."""

    @abstractmethod
    async def delete(self, hash: str) -> bool:
        """Remove the blob (admin cleanup only: events may still name it). True if one was removed."""

    async def aclose(self) -> None:
        """Release connections; the store is unusable afterwards."""
        return None  # nothing to release by default; backends holding connections override this
