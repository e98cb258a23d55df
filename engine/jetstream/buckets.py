"""Opening the engine's KV buckets (leases, claims, published checkpoints): created when
missing, or opened when another process made it first; NATS not answering is `LogUnavailable`."""

from __future__ import annotations

import nats.errors
import nats.js.errors
from nats.js.api import KeyValueConfig, StorageType
from nats.js.kv import KeyValue

from engine.errors import LogUnavailable
from engine.nats import NATS

__all__ = ["KV_LOST", "NATS_AWAY", "open_bucket"]

NATS_AWAY = (
    nats.errors.TimeoutError,
    nats.errors.ConnectionClosedError,
    nats.errors.NoRespondersError,
)
"""NATS not answering a bucket's request (a moment's outage, a closed connection)."""
KV_LOST = (nats.js.errors.KeyWrongLastSequenceError, nats.js.errors.KeyNotFoundError)
"""A revision-checked write or delete refused: someone else's entry is there now, or none is."""


async def open_bucket(
    nc: NATS, bucket: str, *, replicas: int = 1, ttl: float | None = None
) -> KeyValue:
    """The file-backed bucket `bucket` keeping one value per key (`ttl`: entries expire that
    many seconds after their last write; None: never)."""
    js = nc.jetstream(timeout=5)
    config = KeyValueConfig(
        bucket=bucket, history=1, storage=StorageType.FILE, replicas=replicas, ttl=ttl
    )
    try:
        return await js.create_key_value(config)
    except nats.js.errors.BadRequestError:
        return await js.key_value(bucket)  # made already (by another process)
    except NATS_AWAY as exc:
        raise LogUnavailable(f"NATS did not answer for the bucket {bucket}: {exc!r}") from None
