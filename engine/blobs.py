"""Content-addressed blob storage: bytes kept under the hex BLAKE3 digest of their content.

Two backends share one contract: `LocalBlobStore` (files in a data directory) and `S3BlobStore`
(S3, R2, MinIO through boto3). Every read re-hashes what it got, so bytes that no longer match
their address raise `BlobCorrupt` instead of being served. Blocking I/O runs in worker threads.

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
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import parse_qs, urlsplit

import msgspec

import rust_core
from engine.errors import (
    BlobCorrupt,
    BlobNotFound,
    BlobStoreConfigError,
    BlobStoreUnavailable,
    BlobTooLarge,
    InvalidBlobHash,
)

if TYPE_CHECKING:
    from engine.blobs_s3 import S3BlobStore

__all__ = [
    "CHUNK_SIZE",
    "BlobInfo",
    "BlobStore",
    "LocalBlobStore",
    "S3BlobStore",
    "blob_hash",
    "check_hash",
    "open_blob_store",
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


def _verified(expected: str, data: bytes, where: str) -> bytes:
    actual = blob_hash(data)
    if actual != expected:
        raise BlobCorrupt(expected, actual, where)
    return data


async def _hash(data: bytes) -> str:
    # Large inputs are hashed in a thread (rust_core releases the GIL) to keep the loop responsive.
    if len(data) <= _INLINE_HASH_LIMIT:
        return blob_hash(data)
    return await asyncio.to_thread(blob_hash, data)


def _hash_file(path: Path) -> str:
    # Incremental, one CHUNK_SIZE piece at a time: a large upload is never held in memory whole.
    with path.open("rb") as file:
        return _hash_open_file(file)


def _hash_open_file(file: BinaryIO) -> str:
    hasher = rust_core.Hasher()
    piece = bytearray(CHUNK_SIZE)
    view = memoryview(piece)
    while n := file.readinto(piece):
        hasher.update(view[:n])
    return hasher.hexdigest()


def _discard(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _fsync_dir(path: Path) -> None:
    # A rename or a new entry is durable only once its directory is flushed.
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


async def _spool(
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
            await asyncio.to_thread(_finish_file, file, b"".join(pending))
    except BaseException:
        _discard(path)
        raise
    return path, size


def _finish_file(file: Any, tail: bytes) -> None:
    file.write(tail)
    file.flush()
    os.fsync(file.fileno())


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
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
        return (await self.put_stream(_file_chunks(Path(path)), max_size=max_size)).hash

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


class LocalBlobStore(BlobStore):
    """Blobs as files `root/ab/cd/<hash>`, written crash-safely (temp file, fsync, rename, fsync dir)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._incoming = self.root / ".incoming"
        try:
            self._incoming.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BlobStoreUnavailable(f"cannot use {self.root} as a blob store: {exc}") from exc

    def __repr__(self) -> str:
        return f"LocalBlobStore({str(self.root)!r})"

    def path(self, hash: str) -> Path:
        """Where the blob `hash` lives (whether or not it is stored)."""
        check_hash(hash)
        return self.root / hash[:2] / hash[2:4] / hash

    async def put(self, data: bytes) -> str:
        digest = await _hash(data)
        await asyncio.to_thread(self._write, digest, data)
        return digest

    async def put_stream(
        self, chunks: AsyncIterable[bytes], *, max_size: int | None = None
    ) -> BlobInfo:
        temp, size = await _spool(chunks, self._incoming, max_size)
        try:
            digest = await asyncio.to_thread(_hash_file, temp)
            await asyncio.to_thread(self._install, temp, digest, size)
        finally:
            _discard(temp)
        return BlobInfo(hash=digest, size=size)

    async def get(self, hash: str) -> bytes:
        path = self.path(hash)
        try:
            return await asyncio.to_thread(self._read, hash, path)
        except FileNotFoundError:
            raise BlobNotFound(hash) from None

    async def iter(self, hash: str, *, chunk_size: int = CHUNK_SIZE) -> AsyncIterator[bytes]:
        """The blob in chunks, verified first by an incremental hash of the file (bounded memory).

        The file is read twice: once to verify it, then to yield it. The second pass is hashed
        too, so a file changed in between (it should never be) still ends in BlobCorrupt.
        """
        if chunk_size <= 0:
            raise ValueError(f"chunk_size must be positive, got {chunk_size}")
        path = self.path(hash)
        try:
            file = await asyncio.to_thread(path.open, "rb")
        except FileNotFoundError:
            raise BlobNotFound(hash) from None
        try:
            actual = await asyncio.to_thread(_hash_open_file, file)
            if actual != hash:
                raise BlobCorrupt(hash, actual, str(path))
            await asyncio.to_thread(file.seek, 0)
            hasher = rust_core.Hasher()
            while chunk := await asyncio.to_thread(file.read, chunk_size):
                hasher.update(chunk)
                yield chunk
            if (again := hasher.hexdigest()) != hash:
                raise BlobCorrupt(hash, again, str(path))
        finally:
            file.close()

    async def exists(self, hash: str) -> bool:
        return await asyncio.to_thread(self.path(hash).is_file)

    async def size(self, hash: str) -> int:
        path = self.path(hash)
        try:
            return (await asyncio.to_thread(path.stat)).st_size
        except FileNotFoundError:
            raise BlobNotFound(hash) from None

    async def delete(self, hash: str) -> bool:
        return await asyncio.to_thread(self._delete, self.path(hash))

    @staticmethod
    def _read(hash: str, path: Path) -> bytes:
        return _verified(hash, path.read_bytes(), str(path))

    def _write(self, digest: str, data: bytes) -> None:
        final = self.path(digest)
        if self._already_stored(final, len(data)):
            return
        self._make_dirs(final.parent)
        fd, name = tempfile.mkstemp(prefix=".incoming-", dir=final.parent)
        temp = Path(name)
        try:
            with os.fdopen(fd, "wb") as file:
                _finish_file(file, data)
            self._install(temp, digest, len(data))
        finally:
            _discard(temp)

    def _install(self, temp: Path, digest: str, size: int) -> None:
        final = self.path(digest)
        if self._already_stored(final, size):
            return
        self._make_dirs(final.parent)
        # os.replace is atomic: concurrent writers of one blob all rename identical bytes into place.
        os.replace(temp, final)
        _fsync_dir(final.parent)

    @staticmethod
    def _already_stored(final: Path, size: int) -> bool:
        # A same-size file is taken as present; a truncated one is replaced (and so repaired).
        try:
            return final.stat().st_size == size
        except FileNotFoundError:
            return False

    def _make_dirs(self, directory: Path) -> None:
        missing: list[Path] = []
        while not directory.is_dir():
            missing.append(directory)
            directory = directory.parent
        for new in reversed(missing):
            with contextlib.suppress(FileExistsError):
                new.mkdir()
            _fsync_dir(new.parent)

    @staticmethod
    def _delete(path: Path) -> bool:
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        _fsync_dir(path.parent)
        return True


def __getattr__(name: str) -> Any:
    # `from engine.blobs import S3BlobStore` works without importing boto3 for local-only users.
    if name == "S3BlobStore":
        from engine.blobs_s3 import S3BlobStore

        return S3BlobStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def open_blob_store(
    location: str | os.PathLike[str],
    *,
    access_key: str | None = None,
    secret_key: str | None = None,
) -> BlobStore:
    """The blob store at `location`: a directory path (or file:// URL) or an S3 URL.

    `s3://bucket/prefix?endpoint=http://host:9000&region=eu-west-1` addresses S3, R2 or MinIO;
    without a prefix, objects go under `blobs/`. Credentials are never read from the URL (it ends
    up in logs): pass them here or leave them to boto3's usual chain.
    """
    text = os.fspath(location)
    if not text.strip():
        raise BlobStoreConfigError("the blob store location is empty")
    if "://" not in text:
        return LocalBlobStore(Path(text).expanduser())
    url = urlsplit(text)
    if url.scheme == "file":
        return LocalBlobStore(Path(url.path))
    if url.scheme != "s3":
        raise BlobStoreConfigError(
            f"unknown blob store location {text!r}: use a directory path or an s3:// URL"
        )
    if url.username or url.password:
        raise BlobStoreConfigError("put S3 credentials in settings or the environment, not the URL")
    if not url.netloc:
        raise BlobStoreConfigError(f"blob store URL {text!r} names no bucket")
    query = parse_qs(url.query, keep_blank_values=True)
    unknown = sorted(set(query) - {"endpoint", "region"})
    if unknown:
        raise BlobStoreConfigError(
            f"unknown option(s) {', '.join(unknown)} in {text!r}; known: endpoint, region"
        )
    prefix = url.path.strip("/")
    from engine.blobs_s3 import S3BlobStore  # deferred: boto3 is slow to import

    return S3BlobStore(
        url.netloc,
        prefix=prefix + "/" if prefix else "blobs/",
        endpoint_url=query.get("endpoint", [None])[-1],
        region=query.get("region", [None])[-1],
        access_key=access_key,
        secret_key=secret_key,
    )
