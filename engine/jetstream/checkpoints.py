"""Fold checkpoints published in a NATS KV bucket, for processes that do not fold (issue 12).

A folding process (roles all and worker) commits each batch's read-model writes and checkpoint
in its own store, then publishes the chapter's positions here: one entry per chapter, key
`ch.<chapter>`, a JSON object `{projection: rev}`. A gateway (role gateway) settles
read-your-writes on these entries (app/settle.py, `CheckpointSettle`), so it needs neither a
runner nor the folding process's disk to know how far the read models got.

Published after the commit, never before: an entry never claims more than the store holds. An
entry may lag (a publish failed while NATS was away; the next batch publishes again), which only
makes a read wait longer. Positions only move forward: a worker that took a chapter over
publishes what it folded from the stored checkpoints, which are at least the previous holder's.
"""

from __future__ import annotations

import json

import nats.errors
import nats.js.errors
from nats.js.api import KeyValueConfig, StorageType
from nats.js.kv import KeyValue

from engine.errors import LogUnavailable
from engine.nats import NATS

__all__ = ["CHECKPOINT_BUCKET", "PublishedCheckpoints"]

CHECKPOINT_BUCKET = "RS_CHECKPOINTS"
"""The KV bucket of published fold positions."""

_KEY = "ch."
_AWAY = (nats.errors.TimeoutError, nats.errors.ConnectionClosedError, nats.errors.NoRespondersError)


class PublishedCheckpoints:
    """The bucket of fold positions, per chapter."""

    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv

    @classmethod
    async def open(cls, nc: NATS, *, replicas: int = 1) -> PublishedCheckpoints:
        """The bucket (created if missing)."""
        js = nc.jetstream(timeout=5)
        config = KeyValueConfig(
            bucket=CHECKPOINT_BUCKET, history=1, storage=StorageType.FILE, replicas=replicas
        )
        try:
            kv = await js.create_key_value(config)
        except nats.js.errors.BadRequestError:
            kv = await js.key_value(CHECKPOINT_BUCKET)  # made already (by another process)
        except _AWAY as exc:
            raise LogUnavailable(
                f"NATS did not answer for the checkpoint bucket: {exc!r}"
            ) from None
        return cls(kv)

    async def publish(self, chapter: str, positions: dict[str, int]) -> None:
        """Say `chapter` is folded up to `positions` (committed already)."""
        await self.kv.put(_KEY + chapter, json.dumps(positions, sort_keys=True).encode())

    async def positions(self, chapter: str) -> dict[str, int]:
        """The positions last published for `chapter` (empty before any)."""
        try:
            entry = await self.kv.get(_KEY + chapter)
        except nats.js.errors.KeyNotFoundError:
            return {}
        if not entry.value:
            return {}
        return {str(k): int(v) for k, v in json.loads(entry.value).items()}
