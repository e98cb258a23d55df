"""Sealing personal fields into personal blobs on append, and opening them on read: the blob
I/O around events/personal.py (docs/log-format.md, "Erasure").

`seal_bodies` runs in `Log` before an event is encoded, so no personal value ever reaches the
chained bytes of an event written with a blob store. `open_envelopes` is the one read boundary:
the runner, the audit reads (history, state, diff, provenance) and exports open through it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import msgspec

from engine.blobs import BlobStore
from events import Body, Envelope
from events.personal import NONCE_BYTES, is_sealable, open_sealed, seal, stripped

__all__ = ["open_bodies", "open_envelopes", "seal_bodies"]


async def seal_bodies(blobs: BlobStore, bodies: Sequence[Body]) -> list[Body]:
    """`bodies` with their personal fields sealed, the personal blobs stored (durably) first.

    A body sealed already (a copy, a mirror re-issuing an event) keeps its `sealed` and is
    stripped of any value an opened body still carries, so a re-append never un-seals."""
    out: list[Body] = []
    blobs_to_put: list[bytes] = []
    for body in bodies:
        if not is_sealable(body):
            out.append(body)
            continue
        if getattr(body, "sealed", None) is not None:
            out.append(stripped(body))  # type: ignore[arg-type]
            continue
        sealed = seal(body, os.urandom(NONCE_BYTES))  # type: ignore[arg-type]
        if sealed is None:
            out.append(body)
            continue
        out.append(sealed[0])
        blobs_to_put.append(sealed[1])
    if len(blobs_to_put) == 1:
        await blobs.put(blobs_to_put[0])
    elif blobs_to_put:
        await blobs.put_many(blobs_to_put)
    return out


async def open_bodies(blobs: BlobStore | None, bodies: Sequence[Body]) -> list[Body]:
    """`bodies` with sealed fields filled from their personal blobs (one batched read), or
    marked erased where a blob is gone. Without a blob store, sealed fields read as erased."""
    refs = [r for b in bodies if (r := getattr(b, "sealed", None)) is not None and is_sealable(b)]
    if not refs:
        return list(bodies)
    found = await blobs.get_many(refs) if blobs is not None else {}
    return [
        open_sealed(b, found.get(b.sealed)) if is_sealable(b) else b  # type: ignore[union-attr,arg-type]
        for b in bodies
    ]


async def open_envelopes(blobs: BlobStore | None, envelopes: Sequence[Envelope]) -> list[Envelope]:
    """`envelopes` with their bodies opened (see `open_bodies`)."""
    if not any(getattr(e.body, "sealed", None) is not None for e in envelopes):
        return list(envelopes)
    bodies = await open_bodies(blobs, [e.body for e in envelopes])
    return [
        e if b is e.body else msgspec.structs.replace(e, body=b)
        for e, b in zip(envelopes, bodies, strict=True)
    ]
