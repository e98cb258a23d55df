"""Fold checkpoints published in a NATS KV bucket, for processes that do not fold (issue 12).

A folding process (roles all and worker) commits each batch's read-model writes and checkpoint
in its own store, then publishes the chapter's positions here: one entry per chapter, key
`ch.<chapter>`, a JSON object `{projection: rev}`. A gateway (role gateway) settles
read-your-writes on these entries (app/settle.py, `CheckpointSettle`), so it needs neither a
runner nor the folding process's disk to know how far the read models got.

Published after the commit, never before: an entry never claims more than the store holds. An
entry may lag (a publish failed while NATS was away; the next batch publishes again), which only
makes a read wait longer. A worker that took a chapter over publishes what it folded from the
stored checkpoints, which are at least the previous holder's.

Where chapters are leased (role worker), each entry carries its publisher's fencing token (the
lease's KV revision, engine/jetstream/leases.py) and is written revision-checked: a holder that
stalled between its commit and its publish, and woke after the lease moved on, finds a later
token and writes nothing. Without the fence its older positions would replace the new holder's,
and a gateway would wait on them until the chapter's next batch, which may never come.
"""

from __future__ import annotations

import json

import nats.js.errors
from nats.js.kv import KeyValue

from engine.jetstream.buckets import open_bucket
from engine.nats import NATS

__all__ = ["CHECKPOINT_BUCKET", "PublishedCheckpoints"]

CHECKPOINT_BUCKET = "RS_CHECKPOINTS"
"""The KV bucket of published fold positions."""

_KEY = "ch."
_TRIES = 5


class PublishedCheckpoints:
    """The bucket of fold positions, per chapter."""

    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv

    @classmethod
    async def open(cls, nc: NATS, *, replicas: int = 1) -> PublishedCheckpoints:
        """The bucket (created if missing)."""
        kv = await open_bucket(nc, CHECKPOINT_BUCKET, replicas=replicas)
        return cls(kv)

    async def publish(
        self, chapter: str, positions: dict[str, int], *, fence: int | None = None
    ) -> bool:
        """Say `chapter` is folded up to `positions` (committed already); whether it was written.

        `fence`: the publisher's lease revision where chapters are leased (None: one process
        folds every chapter, nothing to fence). An entry with a later fence is kept."""
        key = _KEY + chapter
        value = json.dumps({"fence": fence or 0, "positions": positions}, sort_keys=True).encode()
        if fence is None:
            await self.kv.put(key, value)
            return True
        for _ in range(_TRIES):
            entry = await self._entry(key)
            try:
                if entry is None:
                    await self.kv.create(key, value)
                else:
                    if _decode(entry.value)[0] > fence:
                        return False  # a later holder published: ours is stale
                    await self.kv.update(key, value, last=entry.revision)
                return True
            except nats.js.errors.KeyWrongLastSequenceError:
                continue  # written meanwhile: look again
        return False

    async def positions(self, chapter: str) -> dict[str, int]:
        """The positions last published for `chapter` (empty before any)."""
        entry = await self._entry(_KEY + chapter)
        return _decode(entry.value)[1] if entry is not None else {}

    async def _entry(self, key: str) -> KeyValue.Entry | None:
        try:
            return await self.kv.get(key)
        except nats.js.errors.KeyNotFoundError:  # KeyDeletedError too
            return None


def _decode(value: bytes | None) -> tuple[int, dict[str, int]]:
    """(fence, positions) of an entry; one written before fences were is at fence 0."""
    if not value:
        return 0, {}
    data = json.loads(value)
    if "positions" not in data:  # {projection: rev}, as first published
        return 0, {str(k): int(v) for k, v in data.items()}
    return int(data["fence"]), {str(k): int(v) for k, v in data["positions"].items()}
