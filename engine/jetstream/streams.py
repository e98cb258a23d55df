"""A log's stream on JetStream: create it, look at it, read one message, list streams, ping.

Each call turns nats-py's errors into the engine's: a missing stream is `ChapterNotFound`, a
server that does not answer `LogUnavailable`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import nats.errors
import nats.js.errors
from nats.js.api import (
    DiscardPolicy,
    RePublish,
    RetentionPolicy,
    StorageType,
    StreamConfig,
    StreamInfo,
)

from engine.errors import ChapterExists, ChapterNotFound, LogUnavailable
from engine.nats import (
    DESCRIPTION_HEADER,
    ERR_STREAM_NAME_IN_USE,
    JS_API,
    NATS,
    STATUS_HEADER,
    JetStreamContext,
    log_id_of_stream,
)

if TYPE_CHECKING:
    from nats.aio.msg import Msg

__all__ = [
    "DUPLICATE_WINDOW_S",
    "account_ping",
    "direct_get",
    "ensure_live",
    "ensure_stream",
    "stream_info",
    "stream_names",
]

DUPLICATE_WINDOW_S = 900.0
"""How long a `Nats-Msg-Id` is remembered: a retried publish within it is stored once. 15
minutes, so that a client's retry of a write (its `Idempotency-Key`) still meets the first
attempt after a server restart or a cluster's leader change (docs/deploy.md). The cost is the
server's table of the ids appended within the window, per stream: a few dozen bytes each."""

_UNANSWERED = (
    nats.errors.TimeoutError,
    nats.errors.ConnectionClosedError,
    nats.errors.NoRespondersError,
)


def _log_stream_config(
    name: str, subject: str, replicas: int, live_subject: str | None = None
) -> StreamConfig:
    return StreamConfig(
        name=name,
        subjects=[subject],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.NEW,
        num_replicas=replicas,
        duplicate_window=DUPLICATE_WINDOW_S,
        # The stream sequence is the revision: nothing may ever be removed from a log.
        deny_delete=True,
        deny_purge=True,
        allow_direct=True,  # fast batched reads ($JS.API.DIRECT.GET with `batch`); direct guests
        allow_atomic=True,  # bulk appends as atomic batches (nats-server >= 2.12)
        # Each STORED message once more on the live subject, with `Nats-Sequence` (the rev) and
        # its own headers (`Rs-Hash`): what a direct guest follows (engine/jetstream/guest.py).
        republish=RePublish(src=subject, dest=live_subject) if live_subject else None,
    )


async def ensure_stream(
    js: JetStreamContext,
    name: str,
    subject: str,
    *,
    replicas: int = 1,
    live_subject: str | None = None,
    exist_ok: bool = True,
) -> StreamInfo:
    """Create a log's stream, or return it if it exists with the same configuration (a log's
    stream from an older version gets the live republish and direct gets now); without
    `exist_ok`, `ChapterExists` if it is already there."""
    config = _log_stream_config(name, subject, replicas, live_subject)
    try:
        if not exist_ok:
            try:
                await js.stream_info(name)
            except nats.js.errors.NotFoundError:
                pass
            else:
                raise ChapterExists(log_id_of_stream(name))
        return await js.add_stream(config)
    except nats.js.errors.BadRequestError as exc:
        if exc.err_code != ERR_STREAM_NAME_IN_USE:
            raise
    except (nats.errors.TimeoutError, nats.errors.ConnectionClosedError) as exc:
        raise LogUnavailable(f"NATS did not answer while creating {name}: {exc!r}") from None
    # Same name, other settings (e.g. created by an older version): keep it if it is a log.
    return await _update_live(js, await _log_stream_info(js, name, subject), config)


async def ensure_live(js: JetStreamContext, name: str, subject: str, live_subject: str) -> None:
    """Make an existing log's stream republish to `live_subject` and serve direct gets, as
    `ensure_stream` would; `ChapterNotFound` if there is no such stream."""
    info = await _log_stream_info(js, name, subject)
    await _update_live(js, info, _log_stream_config(name, subject, 1, live_subject))


async def _log_stream_info(js: JetStreamContext, name: str, subject: str) -> StreamInfo:
    """The stream `name`, which must be a log's on `subject` (`ChapterExists` otherwise)."""
    info = await stream_info(js, name)
    if info.config.subjects != [subject] or not info.config.deny_delete:
        raise ChapterExists(log_id_of_stream(name))
    return info


async def _update_live(js: JetStreamContext, info: StreamInfo, wanted: StreamConfig) -> StreamInfo:
    """Turn on what `wanted` adds for direct guests (republish, direct gets) and widen the
    duplicate window of a stream made by an older version, keeping the rest of the stream's
    configuration as it is."""
    current = info.config
    window = current.duplicate_window or 0.0
    if (
        current.allow_direct
        and _same_republish(current.republish, wanted.republish)
        and window >= DUPLICATE_WINDOW_S
    ):
        return info
    current.allow_direct = True
    current.duplicate_window = max(window, DUPLICATE_WINDOW_S)
    if wanted.republish is not None:
        current.republish = wanted.republish
    try:
        return await js.update_stream(current)
    except (nats.errors.TimeoutError, nats.errors.ConnectionClosedError) as exc:
        raise LogUnavailable(
            f"NATS did not answer while updating {current.name}: {exc!r}"
        ) from None


def _same_republish(current: RePublish | None, wanted: RePublish | None) -> bool:
    if wanted is None:
        return True  # nothing to add (a book's stream)
    return current is not None and (current.src, current.dest) == (wanted.src, wanted.dest)


async def stream_info(js: JetStreamContext, name: str) -> StreamInfo:
    """A stream's info; `ChapterNotFound` if it does not exist, `LogUnavailable` if NATS is away."""
    try:
        return await js.stream_info(name)
    except nats.js.errors.NotFoundError:
        raise ChapterNotFound(log_id_of_stream(name)) from None
    except _UNANSWERED as exc:
        raise LogUnavailable(f"NATS did not answer for stream {name}: {exc!r}") from None


async def direct_get(
    nc: NATS,
    stream: str,
    *,
    seq: int | None = None,
    last_by_subject: str | None = None,
    wait: float = 5.0,
) -> Msg | None:
    """One stored message by sequence or the last on a subject (`$JS.API.DIRECT.GET`), with its
    headers (`Nats-Sequence`, ours); None when there is no such message.

    `ChapterNotFound` when the stream does not exist, `LogUnavailable` when NATS is away.
    """
    request: dict[str, Any] = {}
    if seq is not None:
        request["seq"] = seq
    if last_by_subject is not None:
        request["last_by_subj"] = last_by_subject
    try:
        msg = await nc.request(
            f"{JS_API}.DIRECT.GET.{stream}", json.dumps(request).encode(), timeout=wait
        )
    except nats.errors.NoRespondersError:
        # No direct-get responder: the stream is missing, or JetStream is still starting.
        await stream_info(nc.jetstream(), stream)
        raise LogUnavailable(f"JetStream does not serve reads of {stream} yet") from None
    except (nats.errors.TimeoutError, nats.errors.ConnectionClosedError) as exc:
        raise LogUnavailable(f"NATS did not answer a read of {stream}: {exc!r}") from None
    status = (msg.headers or {}).get(STATUS_HEADER) if not msg.data else None
    if status:
        if status == "404":
            return None
        description = (msg.headers or {}).get(DESCRIPTION_HEADER, "")
        raise LogUnavailable(f"reading {stream}: {status} {description}")
    return msg


async def stream_names(nc: NATS, subject: str) -> list[str]:
    """Names of every stream whose subjects overlap `subject`, all pages."""
    names: list[str] = []
    while True:
        request = json.dumps({"offset": len(names), "subject": subject}).encode()
        try:
            answer = await nc.request(f"{JS_API}.STREAM.NAMES", request, timeout=10)
        except _UNANSWERED as exc:
            raise LogUnavailable(f"NATS did not list its streams: {exc!r}") from None
        reply = json.loads(answer.data)
        page = reply.get("streams") or []
        names.extend(page)
        if not page or len(names) >= reply.get("total", 0):
            return names


async def account_ping(nc: NATS, *, wait: float = 5.0) -> None:
    """Ask JetStream for the account's info: `LogUnavailable` unless it answers."""
    try:
        await nc.jetstream(timeout=wait).account_info()
    except (nats.errors.Error, OSError) as exc:  # nats-py's errors, timeouts, a lost socket
        raise LogUnavailable(f"JetStream does not answer: {exc!r}") from None
