"""Content-addressed blob storage: bytes kept under the hex BLAKE3 digest of their content.

Two backends share one contract (`base.BlobStore`): `LocalBlobStore` (files in a data directory,
`local.py`) and `S3BlobStore` (S3, R2, MinIO through boto3, `s3.py`). Every read re-hashes what it
got, so bytes that no longer match their address raise `BlobCorrupt` instead of being served.
Blocking I/O runs in worker threads. `open_blob_store` picks the backend for a location; boto3 is
imported only when an S3 store is opened (or `S3BlobStore` is asked for).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from engine.blobs.base import CHUNK_SIZE, BlobInfo, BlobStore, blob_hash, check_hash
from engine.blobs.local import LocalBlobStore
from engine.errors import BlobStoreConfigError

if TYPE_CHECKING:
    from engine.blobs.s3 import S3BlobStore

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


def __getattr__(name: str) -> Any:
    # `from engine.blobs import S3BlobStore` works without importing boto3 for local-only users.
    if name == "S3BlobStore":
        from engine.blobs.s3 import S3BlobStore

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
    try:
        from engine.blobs.s3 import S3BlobStore  # deferred: boto3 is slow to import
    except ImportError:
        raise BlobStoreConfigError(
            "an S3 blob store needs the 's3' extra: pip install 'ragstack[s3]'"
        ) from None

    return S3BlobStore(
        url.netloc,
        prefix=prefix + "/" if prefix else "blobs/",
        endpoint_url=query.get("endpoint", [None])[-1],
        region=query.get("region", [None])[-1],
        access_key=access_key,
        secret_key=secret_key,
    )
