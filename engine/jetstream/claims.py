"""Claims in a NATS KV bucket: work that one process at a time may do among every process on
the same NATS, such as a connector's sync (a worker's schedule and a gateway's "sync now" in a
split deployment would otherwise both fold what the connector holds and both append the same
new item).

One bucket, `RS_CLAIMS`, whose entries expire `ttl` seconds after their last write.
`acquire(key)` creates the entry (None while anyone's live entry exists), renews it every
`ttl / 3` seconds by a revision-checked update until `release()`, which deletes it. A holder that dies leaves an entry that expires within `ttl`, so the work is free again without
anyone cleaning up. A holder that stalls past `ttl` loses its claim, logged: it was a guard
against doing the work twice at once, not a fence its writes carry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import nats.js.errors
from nats.js.kv import KeyValue

from engine.errors import LogUnavailable
from engine.jetstream.buckets import KV_LOST, NATS_AWAY, open_bucket
from engine.nats import NATS

__all__ = ["CLAIM_BUCKET", "Claim", "Claims"]

log = logging.getLogger(__name__)

CLAIM_BUCKET = "RS_CLAIMS"
"""The KV bucket of claims."""


class Claims:
    """The bucket of claims, as one process (`holder`, shown to the others) sees it."""

    def __init__(self, kv: KeyValue, holder: str, ttl: float) -> None:
        self.kv = kv
        self.holder = holder
        self.ttl = ttl

    @classmethod
    async def open(cls, nc: NATS, holder: str, *, ttl: float = 30.0, replicas: int = 1) -> Claims:
        """The bucket (created if missing, `ttl` its entries' lifetime)."""
        kv = await open_bucket(nc, CLAIM_BUCKET, replicas=replicas, ttl=ttl)
        return cls(kv, holder, ttl)

    async def holder_of(self, key: str) -> str | None:
        """Who holds `key` now, if anyone."""
        try:
            entry = await self.kv.get(key)
        except nats.js.errors.KeyNotFoundError:
            return None
        return entry.value.decode() if entry.value else None

    async def acquire(self, key: str) -> Claim | None:
        """Hold `key` until `release()` (renewed meanwhile); None if another process holds it."""
        try:
            revision = await self.kv.create(key, self.holder.encode())
        except KV_LOST:
            return None
        except NATS_AWAY as exc:
            raise LogUnavailable(f"NATS did not answer for the claim on {key}: {exc!r}") from None
        return Claim(self, key, revision)


class Claim:
    """A held claim, renewed every `ttl / 3` seconds until `release()`."""

    def __init__(self, claims: Claims, key: str, revision: int) -> None:
        self._claims = claims
        self.key = key
        self._revision = revision
        self._renewing = asyncio.create_task(self._renew(), name=f"claim-{key}")

    async def _renew(self) -> None:
        kv, holder, ttl = self._claims.kv, self._claims.holder.encode(), self._claims.ttl
        while True:
            await asyncio.sleep(ttl / 3)
            try:
                self._revision = await kv.update(self.key, holder, last=self._revision)
            except KV_LOST:
                log.warning("claim %s was lost (this process stalled past %s s)", self.key, ttl)
                return
            except NATS_AWAY as exc:  # NATS away a moment: the next round tries again
                log.info("claim %s not renewed: %r", self.key, exc)

    async def release(self) -> None:
        """Give the claim up (nothing happens if it was lost already)."""
        self._renewing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._renewing
        with contextlib.suppress(*KV_LOST, *NATS_AWAY):
            await self._claims.kv.delete(self.key, last=self._revision)
