"""The S3 backend of the blob store: S3, R2 and MinIO through boto3.

Kept apart from the rest of engine/blobs/ so that a local-only install never pays for importing boto3.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import Any, BinaryIO

import boto3
from boto3.exceptions import S3UploadFailedError
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

import rust_core
from engine.blobs.base import (
    CHUNK_SIZE,
    BlobInfo,
    BlobStore,
    check_hash,
    discard,
    hash_file,
    hash_in_thread,
    spool,
    verified,
)
from engine.errors import BlobCorrupt, BlobNotFound, BlobStoreConfigError, BlobStoreUnavailable

__all__ = ["S3BlobStore"]

_NOT_FOUND = {"NoSuchKey", "404", "NotFound"}

# S3 error codes meaning the caller may not do this (as opposed to "this is not there").
_DENIED = {"403", "AccessDenied", "Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch"}


class S3BlobStore(BlobStore):
    """Blobs as objects `prefix + hash` in an S3 bucket; R2 and MinIO through `endpoint_url`.

    Credentials not given here come from boto3's usual chain (environment, config files, roles).
    """

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "blobs/",
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        spool_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        if not bucket:
            raise BlobStoreConfigError("an S3 blob store needs a bucket name")
        if (access_key is None) != (secret_key is None):
            raise BlobStoreConfigError("give both access_key and secret_key, or neither")
        self.bucket = bucket
        self.prefix = prefix
        self.endpoint_url = endpoint_url
        self._spool_dir = Path(spool_dir) if spool_dir is not None else None
        self._bucket_seen = False
        extra: dict[str, Any] = {}
        if endpoint_url is not None:
            # S3-compatible servers: path-style addressing, and no checksums beyond what the
            # protocol requires (several reject boto3's newer default ones); reads verify BLAKE3.
            extra = {
                "s3": {"addressing_style": "path"},
                "request_checksum_calculation": "when_required",
                "response_checksum_validation": "when_required",
            }
        config = Config(
            retries={"mode": "standard", "max_attempts": 3},
            connect_timeout=10,
            read_timeout=60,
            max_pool_connections=32,
            **extra,
        )
        session = boto3.session.Session(
            aws_access_key_id=access_key, aws_secret_access_key=secret_key, region_name=region
        )
        try:
            self._client = session.client("s3", endpoint_url=endpoint_url, config=config)
        except (BotoCoreError, ValueError) as exc:
            raise BlobStoreConfigError(f"cannot configure S3 client: {exc}") from exc

    def __repr__(self) -> str:
        where = f" at {self.endpoint_url}" if self.endpoint_url else ""
        return f"S3BlobStore(s3://{self.bucket}/{self.prefix}{where})"

    def key(self, hash: str) -> str:
        """The object key of blob `hash`."""
        return self.prefix + check_hash(hash)

    async def put(self, data: bytes) -> str:
        digest = await hash_in_thread(data)
        if await self._stored_size(digest) != len(data):
            await self._call(
                self._client.put_object, Bucket=self.bucket, Key=self.key(digest), Body=data
            )
        return digest

    async def put_stream(
        self, chunks: AsyncIterable[bytes], *, max_size: int | None = None
    ) -> BlobInfo:
        temp, size = await spool(chunks, self._spool_path(), max_size)
        try:
            digest = await asyncio.to_thread(hash_file, temp)
            if await self._stored_size(digest) != size:
                # upload_file switches to a multipart upload for large files by itself.
                await self._call(self._client.upload_file, str(temp), self.bucket, self.key(digest))
        finally:
            discard(temp)
        return BlobInfo(hash=digest, size=size)

    async def get(self, hash: str) -> bytes:
        key = self.key(hash)
        try:
            return await self._call(self._read, hash, key)
        except ClientError:  # only "not found" codes get past _call
            raise BlobNotFound(hash) from None

    async def iter(self, hash: str, *, chunk_size: int = CHUNK_SIZE) -> AsyncIterator[bytes]:
        """The blob in chunks, verified before the first one, in bounded memory whatever its size.

        The object is streamed into a temporary file in the spool directory and hashed as it
        arrives; only once the hash matches is the file read back and yielded. The file has no
        name (it goes away when closed, even if the process dies), and it is closed when the
        iteration ends, fails or is given up by its consumer.
        """
        if chunk_size <= 0:
            raise ValueError(f"chunk_size must be positive, got {chunk_size}")
        key = self.key(hash)
        try:
            response = await self._call(self._client.get_object, Bucket=self.bucket, Key=key)
        except ClientError:  # only "not found" codes get past _call
            raise BlobNotFound(hash) from None
        body = response["Body"]
        try:
            file = await asyncio.to_thread(tempfile.TemporaryFile, dir=self._spool_path())
        except BaseException:
            body.close()
            raise
        try:
            try:
                hasher = rust_core.Hasher()
                # One thread hop per CHUNK_SIZE piece, so cancelling stops the download there.
                while await self._call(_copy_piece, body, file, hasher):
                    pass
            finally:
                body.close()  # hand the connection back before the consumer takes its time
            actual = hasher.hexdigest()
            if actual != hash:
                raise BlobCorrupt(hash, actual, f"s3://{self.bucket}/{key}")
            # No second hash, unlike LocalBlobStore.iter: nothing else can reach a nameless file.
            await asyncio.to_thread(file.seek, 0)
            while chunk := await asyncio.to_thread(file.read, chunk_size):
                yield chunk
        finally:
            file.close()

    async def exists(self, hash: str) -> bool:
        return await self._stored_size(check_hash(hash)) is not None

    async def size(self, hash: str) -> int:
        size = await self._stored_size(check_hash(hash))
        if size is None:
            raise BlobNotFound(hash)
        return size

    async def delete(self, hash: str) -> bool:
        if await self._stored_size(check_hash(hash)) is None:
            return False
        await self._call(self._client.delete_object, Bucket=self.bucket, Key=self.key(hash))
        return True

    async def aclose(self) -> None:
        await asyncio.to_thread(self._client.close)

    def _spool_path(self) -> Path:
        return self._spool_dir or Path(tempfile.gettempdir())

    def _read(self, hash: str, key: str) -> bytes:
        body = self._client.get_object(Bucket=self.bucket, Key=key)["Body"]
        with contextlib.closing(body):
            return verified(hash, body.read(), f"s3://{self.bucket}/{key}")

    async def _stored_size(self, hash: str) -> int | None:
        try:
            head = await self._call(
                self._client.head_object, Bucket=self.bucket, Key=self.key(hash)
            )
        except ClientError:  # only "not found" codes get past _call
            # HEAD answers a bare 404 for a missing bucket too: tell the two apart.
            await self._check_bucket()
            return None
        return int(head["ContentLength"])

    async def _check_bucket(self) -> None:
        if self._bucket_seen:
            return
        try:
            await asyncio.to_thread(self._client.head_bucket, Bucket=self.bucket)
        except ClientError as exc:
            raise self._unavailable(exc) from exc
        except BotoCoreError as exc:
            raise BlobStoreUnavailable(f"{self!r}: {exc}") from exc
        self._bucket_seen = True

    async def _call(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        """Run a blocking boto3 call in a thread; backend failures become BlobStoreUnavailable.

        ClientErrors that mean "not found" are re-raised for the caller to interpret.
        """
        try:
            return await asyncio.to_thread(method, *args, **kwargs)
        except ClientError as exc:
            if _code(exc) in _NOT_FOUND:
                raise
            raise self._unavailable(exc) from exc
        except (BotoCoreError, S3UploadFailedError) as exc:
            raise BlobStoreUnavailable(f"{self!r}: {exc}") from exc

    def _unavailable(self, exc: ClientError) -> BlobStoreUnavailable:
        code = _code(exc)
        if code in {"NoSuchBucket", "404", "NotFound"}:
            why = f"bucket {self.bucket!r} does not exist"
        elif code in _DENIED:
            why = f"access denied ({code}): check the access key, secret key and bucket policy"
        else:
            why = f"{code}: {exc.response.get('Error', {}).get('Message', exc)}"
        return BlobStoreUnavailable(f"{self!r}: {why}")


def _copy_piece(body: Any, file: BinaryIO, hasher: rust_core.Hasher) -> int:
    """Move one piece of a download from `body` to `file`, feeding `hasher`; 0 at the end."""
    piece = body.read(CHUNK_SIZE)
    hasher.update(piece)
    file.write(piece)
    return len(piece)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
