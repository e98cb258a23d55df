"""Idempotency keys: a client's retried write is appended once, and the retry gets the event
that the first attempt stored.

A client names one logical write with an `Idempotency-Key` (HTTP header; the gateway's middleware
calls `idempotent`). While the request is handled, each single append (`Log.append`) publishes
with `Nats-Msg-Id: ik-<digest>-<n>` instead of the event's own id: the digest is of the actor and
the key (so two users' keys never meet), `n` counts the request's appends in order. A retry runs
the same command, so its appends carry the same message ids; JetStream answers a message id it
has seen within the stream's duplicate window (`DUPLICATE_WINDOW_S`, engine/jetstream/streams.py)
with the first one's sequence and `duplicate: true`, and `publish_at` returns the event stored
there. JetStream rebuilds its duplicate table from the stored messages when a server restarts,
so the window covers a restart (docs/deploy.md, "Idempotent writes").

A write that makes a new log (a book) cannot meet its first attempt by message id, since the
retry would publish to a log of its own: `keyed_id` derives the new log's id from the actor and
the key instead, so the retry writes to the same log and finds what the first attempt stored.

Limits, on purpose: bulk appends (`Log.append_many`, atomic batches) carry no key; appends made
concurrently within one request would be numbered in a racy order (no command does that).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass

from events.ids import id_from_digest

__all__ = ["IDEMPOTENCY_KEY_PATTERN", "check_key", "idempotent", "keyed_id", "keyed_msg_id"]

IDEMPOTENCY_KEY_PATTERN = re.compile(r"^[A-Za-z0-9_.:-]{8,128}$")
"""A key: 8-128 letters, digits, `_ . : -` (a UUID qualifies)."""


@dataclass
class _Keyed:
    key: str
    appends: int = 0


_current: ContextVar[_Keyed | None] = ContextVar("ragstack_idempotency_key", default=None)


def check_key(key: str) -> str:
    """`key` if it is a valid idempotency key, else ValueError saying what one looks like."""
    if not IDEMPOTENCY_KEY_PATTERN.match(key):
        raise ValueError(
            "an Idempotency-Key is 8-128 letters, digits, '_', '.', ':' or '-' (a UUID will do)"
        )
    return key


@contextlib.contextmanager
def idempotent(key: str | None) -> Iterator[None]:
    """Within this block (and the tasks it starts), single appends are keyed by `key` (None: not)."""
    token = _current.set(_Keyed(check_key(key)) if key is not None else None)
    try:
        yield
    finally:
        _current.reset(token)


def keyed_msg_id(actor: str) -> str | None:
    """The message id of the next append by `actor` under the current key; None without a key."""
    keyed = _current.get()
    if keyed is None:
        return None
    n = keyed.appends
    keyed.appends += 1
    digest = hashlib.blake2b(f"{actor}\0{keyed.key}".encode(), digest_size=16).hexdigest()
    return f"ik-{digest}-{n}"


def keyed_id(actor: str, purpose: str) -> str | None:
    """The id of the thing `actor` makes for `purpose` under the current key, the same for every
    retry of the write; None without a key (draw a new id then)."""
    keyed = _current.get()
    if keyed is None:
        return None
    return id_from_digest(
        hashlib.blake2b(f"{actor}\0{keyed.key}\0{purpose}".encode(), digest_size=16).digest()
    )
