"""The local backend of the blob store: files in a data directory, written crash-safely."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from pathlib import Path

import rust_core
from engine.blobs.base import (
    CHUNK_SIZE,
    BlobInfo,
    BlobStore,
    blob_hash,
    check_hash,
    discard,
    finish_file,
    fsync_dir,
    hash_file,
    hash_in_thread,
    hash_open_file,
    spool,
    verified,
)
from engine.errors import BlobCorrupt, BlobNotFound, BlobStoreUnavailable

__all__ = ["LocalBlobStore"]


_SMALL = 64 * 1024
"""One read takes a blob this small whole (a personal blob is a few hundred bytes)."""


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
        digest = await hash_in_thread(data)
        await asyncio.to_thread(self._write, digest, data)
        return digest

    async def put_stream(
        self, chunks: AsyncIterable[bytes], *, max_size: int | None = None
    ) -> BlobInfo:
        temp, size = await spool(chunks, self._incoming, max_size)
        try:
            digest = await asyncio.to_thread(hash_file, temp)
            await asyncio.to_thread(self._install, temp, digest, size)
        finally:
            discard(temp)
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
            actual = await asyncio.to_thread(hash_open_file, file)
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

    async def get_many(self, hashes: Sequence[str]) -> dict[str, bytes | None]:
        # One thread hop for the whole batch: a fold opening 100,000 personal blobs must not pay
        # a hop per blob.
        return await asyncio.to_thread(self._read_many, list(dict.fromkeys(hashes)))

    def _read_many(self, hashes: list[str]) -> dict[str, bytes | None]:
        # Plain os calls on string paths: this loop runs once per sealed event of a fold, where
        # pathlib's and buffered files' overhead would be most of the cost of a small blob.
        root = str(self.root)
        found: dict[str, bytes | None] = {}
        for hash in hashes:
            check_hash(hash)
            path = f"{root}/{hash[:2]}/{hash[2:4]}/{hash}"
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                found[hash] = None
                continue
            try:
                data = os.read(fd, _SMALL)
                if len(data) == _SMALL:  # not small after all: read the rest
                    pieces = [data]
                    while piece := os.read(fd, CHUNK_SIZE):
                        pieces.append(piece)
                    data = b"".join(pieces)
            finally:
                os.close(fd)
            found[hash] = verified(hash, data, path)
        return found

    async def put_many(self, blobs: Sequence[bytes]) -> list[str]:
        # Small blobs in bulk: written and renamed into place without a flush each, then made
        # durable together by one sync before returning (thousands of fsyncs would dominate a
        # bulk append).
        return await asyncio.to_thread(self._write_many, list(blobs))

    def _write_many(self, blobs: list[bytes]) -> list[str]:
        digests = []
        for data in blobs:
            digest = blob_hash(data)
            digests.append(digest)
            final = self.path(digest)
            if self._already_stored(final, len(data)):
                continue
            # New directories are made durable by the one sync below, not an fsync each.
            final.parent.mkdir(parents=True, exist_ok=True)
            temp = final.with_name(f".incoming-{os.urandom(8).hex()}")
            try:
                with temp.open("wb") as file:
                    file.write(data)
                os.replace(temp, final)
            finally:
                discard(temp)
        if blobs:
            os.sync()
        return digests

    @staticmethod
    def _read(hash: str, path: Path) -> bytes:
        return verified(hash, path.read_bytes(), str(path))

    def _write(self, digest: str, data: bytes) -> None:
        final = self.path(digest)
        if self._already_stored(final, len(data)):
            return
        self._make_dirs(final.parent)
        fd, name = tempfile.mkstemp(prefix=".incoming-", dir=final.parent)
        temp = Path(name)
        try:
            with os.fdopen(fd, "wb") as file:
                finish_file(file, data)
            self._install(temp, digest, len(data))
        finally:
            discard(temp)

    def _install(self, temp: Path, digest: str, size: int) -> None:
        final = self.path(digest)
        if self._already_stored(final, size):
            return
        self._make_dirs(final.parent)
        # os.replace is atomic: concurrent writers of one blob all rename identical bytes into place.
        os.replace(temp, final)
        fsync_dir(final.parent)

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
            fsync_dir(new.parent)

    @staticmethod
    def _delete(path: Path) -> bool:
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        fsync_dir(path.parent)
        return True
