"""NATS in one place: connections, stream and subject naming, and JetStream administration.

Everything else in the engine asks this module for a stream's name and for the stream itself;
no other module spells `RS_CH_…` or builds a `StreamConfig`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import (
    DiscardPolicy,
    Header,
    RetentionPolicy,
    StorageType,
    StreamConfig,
    StreamInfo,
)

from engine.errors import ChapterExists, ChapterNotFound, LogUnavailable

if TYPE_CHECKING:
    from nats.aio.msg import Msg

__all__ = [
    "ERR_STREAM_NOT_FOUND",
    "ERR_WRONG_LAST_SEQUENCE",
    "HASH_HEADER",
    "NATS",
    "Header",
    "JetStreamContext",
    "book_stream",
    "book_subject",
    "chapter_stream",
    "chapter_subject",
    "connect_engine",
    "create_stream",
    "direct_get",
    "ensure_stream",
    "open_nats",
    "stream_info",
]

log = logging.getLogger(__name__)

HASH_HEADER = "Rs-Hash"
"""Our header: the hex chain hash h[rev] of the message it rides on."""

ERR_WRONG_LAST_SEQUENCE = 10071
"""JetStream err_code: `Nats-Expected-Last-Sequence` did not match the stream's last sequence."""
ERR_STREAM_NOT_FOUND = 10059
"""JetStream err_code: no such stream."""
ERR_STREAM_NAME_IN_USE = 10058
"""JetStream err_code: a stream with this name but another configuration exists."""

DUPLICATE_WINDOW_S = 120.0
"""How long a `Nats-Msg-Id` is remembered: a retried publish within it is stored once."""

_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _check_id(log_id: str) -> str:
    if not _ID.match(log_id):
        raise ValueError(
            f"invalid log id {log_id!r}: use 1-64 letters, digits, '_' or '-' (ULIDs qualify)"
        )
    return log_id


def chapter_stream(chapter_id: str) -> str:
    """The JetStream stream of a chapter's log."""
    return f"RS_CH_{_check_id(chapter_id)}"


def chapter_subject(chapter_id: str) -> str:
    """The subject a chapter's events are published on."""
    return f"rs.ch.{_check_id(chapter_id)}"


def book_stream(book_id: str) -> str:
    """The JetStream stream of a book's log."""
    return f"RS_BK_{_check_id(book_id)}"


def book_subject(book_id: str) -> str:
    """The subject a book's events are published on."""
    return f"rs.bk.{_check_id(book_id)}"


# --- connections ---


async def open_nats(
    url: str,
    user: str | None = None,
    password: str | None = None,
    *,
    name: str = "ragstack-engine",
    inbox_prefix: str | None = None,
    connect_timeout: float = 10.0,
    reconnect_time_wait: float = 0.5,
) -> NATS:
    """Connect to NATS, reconnecting forever once connected.

    nats-py gives up after 60 attempts (about two minutes) by default; a log must survive a
    longer server restart, so reconnects never stop. The first connection, though, has to
    succeed within `connect_timeout`, else `LogUnavailable`.
    """
    nc = NATS()
    last_error: list[BaseException] = []
    refused = asyncio.Event()

    async def on_error(exc: Exception) -> None:
        # nats-py reports every failed (re)connect here; keep the last one for the error message.
        last_error[:] = [exc]
        if not nc.is_connected and "authorization" in str(exc).lower():
            refused.set()  # wrong credentials never get better: fail now, not at the timeout
        log.debug("nats: %s", exc)

    options: dict[str, Any] = {
        "servers": [url],
        "name": name,
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": reconnect_time_wait,
        "connect_timeout": min(connect_timeout, 2.0),
        "error_cb": on_error,
        # Bulk appends queue up many messages; 64 MiB keeps them from tripping the buffer limit.
        "pending_size": 64 * 1024 * 1024,
    }
    if user is not None:
        options["user"] = user
        options["password"] = password or ""
    if inbox_prefix is not None:
        options["inbox_prefix"] = inbox_prefix
    connecting = asyncio.ensure_future(nc.connect(**options))
    refusal = asyncio.ensure_future(refused.wait())
    await asyncio.wait(
        {connecting, refusal}, timeout=connect_timeout, return_when="FIRST_COMPLETED"
    )
    refusal.cancel()
    if connecting.done() and connecting.exception() is None:
        return nc
    connecting.cancel()
    with suppress(asyncio.CancelledError, Exception):
        await connecting
    await _close_quietly(nc)
    if refused.is_set():
        raise LogUnavailable(f"NATS at {url} refused the credentials of user {user!r}")
    cause = last_error[0] if last_error else "no answer"
    raise LogUnavailable(f"cannot reach NATS at {url} within {connect_timeout} s: {cause!r}")


async def _close_quietly(nc: NATS) -> None:
    with suppress(TimeoutError, nats.errors.Error, OSError):
        await asyncio.wait_for(nc.close(), timeout=2)


@asynccontextmanager
async def connect_engine(
    data_dir: Path,
    *,
    url: str | None = None,
    user: str | None = None,
    password: str | None = None,
) -> AsyncIterator[NATS]:
    """The engine's connection: to `url` when given (RAGSTACK_NATS_URL), else to the embedded
    server of `data_dir/nats` — the one already running there, or one started for this block."""
    from engine.server import EmbeddedServer, find_running

    if url is not None:
        nc = await open_nats(url, user, password)
        try:
            yield nc
        finally:
            await _close_quietly(nc)
        return
    server = EmbeddedServer(data_dir / "nats")
    running = find_running(server.data_dir)
    started = running is None
    if started:
        await server.start()
    try:
        nc = await open_nats(running or server.url, server.user, server.password)
        try:
            yield nc
        finally:
            await _close_quietly(nc)
    finally:
        if started:
            await server.stop()


# --- streams ---


def _log_stream_config(name: str, subject: str, replicas: int) -> StreamConfig:
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
        allow_direct=True,  # fast batched reads ($JS.API.DIRECT.GET with `batch`)
        allow_atomic=True,  # bulk appends as atomic batches (nats-server >= 2.12)
    )


async def create_stream(
    js: JetStreamContext, name: str, subject: str, *, replicas: int = 1
) -> StreamInfo:
    """Create a log's stream; `ChapterExists` if it is already there."""
    try:
        await js.stream_info(name)
    except nats.js.errors.NotFoundError:
        pass
    except (nats.errors.TimeoutError, nats.errors.ConnectionClosedError) as exc:
        raise LogUnavailable(f"NATS did not answer while creating {name}: {exc!r}") from None
    else:
        raise ChapterExists(_log_id(name))
    return await ensure_stream(js, name, subject, replicas=replicas)


async def ensure_stream(
    js: JetStreamContext, name: str, subject: str, *, replicas: int = 1
) -> StreamInfo:
    """Create a log's stream, or return it if it exists with the same configuration."""
    try:
        return await js.add_stream(_log_stream_config(name, subject, replicas))
    except nats.js.errors.BadRequestError as exc:
        if exc.err_code != ERR_STREAM_NAME_IN_USE:
            raise
    except (nats.errors.TimeoutError, nats.errors.ConnectionClosedError) as exc:
        raise LogUnavailable(f"NATS did not answer while creating {name}: {exc!r}") from None
    # Same name, other settings (e.g. created by an older version): keep it if it is a log.
    info = await stream_info(js, name)
    if info.config.subjects != [subject] or not info.config.deny_delete:
        raise ChapterExists(_log_id(name))
    return info


async def stream_info(js: JetStreamContext, name: str) -> StreamInfo:
    """A stream's info; `ChapterNotFound` if it does not exist, `LogUnavailable` if NATS is away."""
    try:
        return await js.stream_info(name)
    except nats.js.errors.NotFoundError:
        raise ChapterNotFound(_log_id(name)) from None
    except (
        nats.errors.TimeoutError,
        nats.errors.ConnectionClosedError,
        nats.errors.NoRespondersError,
    ) as exc:
        raise LogUnavailable(f"NATS did not answer for stream {name}: {exc!r}") from None


def _log_id(stream: str) -> str:
    for prefix in ("RS_CH_", "RS_BK_"):
        if stream.startswith(prefix):
            return stream[len(prefix) :]
    return stream


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
            f"$JS.API.DIRECT.GET.{stream}", json.dumps(request).encode(), timeout=wait
        )
    except nats.errors.NoRespondersError:
        # No direct-get responder: the stream is missing, or JetStream is still starting.
        await stream_info(nc.jetstream(), stream)
        raise LogUnavailable(f"JetStream does not serve reads of {stream} yet") from None
    except (nats.errors.TimeoutError, nats.errors.ConnectionClosedError) as exc:
        raise LogUnavailable(f"NATS did not answer a read of {stream}: {exc!r}") from None
    if not msg.data and msg.headers and msg.headers.get("Status"):
        if msg.headers["Status"] == "404":
            return None
        raise LogUnavailable(
            f"reading {stream}: {msg.headers['Status']} {msg.headers.get('Description', '')}"
        )
    return msg
