"""NATS in one place: every name (streams, subjects, headers) and the engine's connections.

No other module spells `RS_CH_…`, `rs.bk.…` or a header name: they ask this module. The JetStream
calls themselves (streams, reads, appends) live in `engine/jetstream/`, the logs in `engine/log.py`.
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nats.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import Header

from engine.errors import LogUnavailable

if TYPE_CHECKING:
    from engine.server import EmbeddedServer
    from engine.server_config import TlsFiles

__all__ = [
    "ALL_BOOK_SUBJECTS",
    "BATCH_HEADERS",
    "BOOK_STREAMS_FILTER",
    "BOOK_STREAM_PREFIX",
    "BOOK_SUBJECT_PREFIX",
    "CHAPTER_STREAM_PREFIX",
    "CHAPTER_SUBJECT_PREFIX",
    "CONSUMER_STALLED_LINE",
    "DESCRIPTION_HEADER",
    "ERR_BATCH_DISABLED",
    "ERR_STREAM_NAME_IN_USE",
    "ERR_STREAM_NOT_FOUND",
    "ERR_WRONG_LAST_SEQUENCE",
    "EXPECTED_LAST_SEQUENCE_HEADER",
    "GUEST_INBOX_PREFIX",
    "HASH_HEADER",
    "HASH_HEADER_LINE",
    "JS_ACK_PREFIX",
    "JS_API",
    "JS_FLOW_CONTROL_PREFIX",
    "LIVE_SUBJECT_PREFIX",
    "MSG_ID_HEADER",
    "NATS",
    "SEQUENCE_HEADER",
    "SHARE_USER_PREFIX",
    "STATUS_HEADER",
    "WIRE_INBOX_PREFIX",
    "EngineConnection",
    "Header",
    "JetStreamContext",
    "Msg",
    "book_id_of_stream",
    "book_id_of_subject",
    "book_stream",
    "book_subject",
    "chapter_live_subject",
    "chapter_stream",
    "chapter_subject",
    "connect_engine",
    "engine_connection",
    "hash_hex_in_block",
    "hash_of_headers",
    "log_id_of_stream",
    "open_nats",
    "sequence_of_headers",
    "server_urls",
    "share_user",
    "trusting",
]

log = logging.getLogger(__name__)

# --- streams and subjects ---

CHAPTER_STREAM_PREFIX = "RS_CH_"
"""A chapter's stream is `RS_CH_<chapter id>`."""
CHAPTER_SUBJECT_PREFIX = "rs.ch."
"""A chapter's events are published on `rs.ch.<chapter id>`."""
LIVE_SUBJECT_PREFIX = "rs.live."
"""A chapter's stream republishes each stored event on `rs.live.<chapter id>` (direct shares)."""
BOOK_STREAM_PREFIX = "RS_BK_"
"""A book's stream is `RS_BK_<book id>`."""
BOOK_SUBJECT_PREFIX = "rs.bk."
"""A book's events are published on `rs.bk.<book id>`."""
ALL_BOOK_SUBJECTS = BOOK_SUBJECT_PREFIX + "*"
"""Subscribing here sees every append to any book."""
BOOK_STREAMS_FILTER = BOOK_SUBJECT_PREFIX + ">"
"""The subject filter that finds every book's stream."""
WIRE_INBOX_PREFIX = "_RS_WIRE"
"""Inbox of the engine's own fast connection (engine/jetstream/wire.py)."""
JS_API = "$JS.API"
"""Prefix of every JetStream API subject."""
JS_ACK_PREFIX = b"$JS.ACK."
"""The reply subject of a JetStream delivery starts so; its tokens carry the sequences."""
JS_FLOW_CONTROL_PREFIX = "$JS.FC"
"""Prefix of the flow-control replies of push consumers."""
GUEST_INBOX_PREFIX = "_RS_INBOX"
"""Inboxes of restricted (guest) users live under `_RS_INBOX.<user>` (engine/server.py)."""
SHARE_USER_PREFIX = "share_"
"""A direct share's NATS user is `share_<share id>` (engine/guests.py)."""

_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _check_id(log_id: str) -> str:
    if not _ID.match(log_id):
        raise ValueError(
            f"invalid log id {log_id!r}: use 1-64 letters, digits, '_' or '-' (ULIDs qualify)"
        )
    return log_id


def chapter_stream(chapter_id: str) -> str:
    """The JetStream stream of a chapter's log."""
    return CHAPTER_STREAM_PREFIX + _check_id(chapter_id)


def chapter_subject(chapter_id: str) -> str:
    """The subject a chapter's events are published on."""
    return CHAPTER_SUBJECT_PREFIX + _check_id(chapter_id)


def chapter_live_subject(chapter_id: str) -> str:
    """Where a chapter's stream republishes each event once stored (with `Nats-Sequence` = rev
    and the original headers): what a direct guest subscribes to. Never `rs.ch.<id>` itself: a
    core subscription there also sees publishes JetStream rejected."""
    return LIVE_SUBJECT_PREFIX + _check_id(chapter_id)


def share_user(share_id: str) -> str:
    """The NATS user of a direct share on the embedded server."""
    return SHARE_USER_PREFIX + _check_id(share_id)


def book_stream(book_id: str) -> str:
    """The JetStream stream of a book's log."""
    return BOOK_STREAM_PREFIX + _check_id(book_id)


def book_subject(book_id: str) -> str:
    """The subject a book's events are published on."""
    return BOOK_SUBJECT_PREFIX + _check_id(book_id)


def book_id_of_stream(stream: str) -> str | None:
    """The book whose log `stream` is, or None for any other stream."""
    return (
        stream.removeprefix(BOOK_STREAM_PREFIX) if stream.startswith(BOOK_STREAM_PREFIX) else None
    )


def book_id_of_subject(subject: str) -> str:
    """The book a message on a book subject was appended to."""
    return subject.removeprefix(BOOK_SUBJECT_PREFIX)


def log_id_of_stream(stream: str) -> str:
    """The chapter or book id of a log's stream (the name itself for any other stream)."""
    for prefix in (CHAPTER_STREAM_PREFIX, BOOK_STREAM_PREFIX):
        if stream.startswith(prefix):
            return stream[len(prefix) :]
    return stream


# --- headers ---

HASH_HEADER = "Rs-Hash"
"""Our header: the hex chain hash h[rev] of the message it rides on."""
HASH_HEADER_LINE = HASH_HEADER.encode() + b": "
"""How the hash header starts in a raw header block; 64 hex digits follow."""
SEQUENCE_HEADER = "Nats-Sequence"
"""The stream sequence (our revision) of a message read by direct get."""
EXPECTED_LAST_SEQUENCE_HEADER = Header.EXPECTED_LAST_SEQUENCE.value
MSG_ID_HEADER = Header.MSG_ID.value
STATUS_HEADER = Header.STATUS.value
DESCRIPTION_HEADER = Header.DESCRIPTION.value
CONSUMER_STALLED_LINE = Header.CONSUMER_STALLED.value.encode() + b": "
"""In an idle heartbeat's header block: the flow-control subject the server waits on."""
BATCH_HEADERS = (
    Header.BATCH_ID.value.encode(),
    Header.BATCH_SEQUENCE.value.encode(),
    Header.BATCH_COMMIT.value.encode(),
    EXPECTED_LAST_SEQUENCE_HEADER.encode(),
)
"""Header names of an atomic batch, as bytes: id, sequence, commit, expected last sequence."""

_HASH_HEX_LEN = 64
_ZERO_HEX = b"0" * _HASH_HEX_LEN


def hash_of_headers(headers: dict[str, str] | None) -> bytes:
    """The chain hash a message carries, as stored; b"" when it has none or not in hex."""
    try:
        return bytes.fromhex((headers or {}).get(HASH_HEADER, ""))
    except ValueError:
        return b""


def sequence_of_headers(headers: dict[str, str] | None) -> int:
    """The stream sequence of a message read by direct get."""
    return int((headers or {})[SEQUENCE_HEADER])


def hash_hex_in_block(buf: bytes, start: int, end: int) -> bytes:
    """The hex hash in the raw header block `buf[start:end]`; zeros (matching nothing) if none."""
    i = buf.find(HASH_HEADER_LINE, start, end)
    if i < 0:
        return _ZERO_HEX
    i += len(HASH_HEADER_LINE)
    return buf[i : i + _HASH_HEX_LEN]


# --- JetStream error codes ---

ERR_WRONG_LAST_SEQUENCE = 10071
"""JetStream err_code: `Nats-Expected-Last-Sequence` did not match the stream's last sequence."""
ERR_STREAM_NOT_FOUND = 10059
"""JetStream err_code: no such stream."""
ERR_STREAM_NAME_IN_USE = 10058
"""JetStream err_code: a stream with this name but another configuration exists."""
ERR_BATCH_DISABLED = 10174
"""JetStream err_code: the stream does not allow atomic batches."""

# --- connections ---


def server_urls(url: str) -> list[str]:
    """The servers of a NATS URL setting: one URL, or a cluster's as `nats://a,nats://b,…`
    (the client connects to any and fails over to the others)."""
    urls = [part.strip() for part in url.split(",") if part.strip()]
    if not urls:
        raise ValueError(f"invalid NATS URL {url!r}: give nats://host:port, comma-separated")
    return urls


def trusting(certificate: str | None, *, check_hostname: bool = True) -> ssl.SSLContext:
    """A client TLS context that trusts the system's authorities and `certificate` (PEM: a
    server's own, self-signed or its chain), so a certificate the owner made is enough.

    `check_hostname=False` only for the engine dialling its own server over loopback: the
    certificate names the host guests dial, and the chain is still verified."""
    context = ssl.create_default_context()
    if certificate:
        try:
            context.load_verify_locations(cadata=certificate)
        except (ssl.SSLError, ValueError) as exc:
            raise ValueError(f"the TLS certificate to trust is not PEM: {exc}") from None
    context.check_hostname = check_hostname
    return context


async def open_nats(
    url: str,
    user: str | None = None,
    password: str | None = None,
    *,
    name: str = "ragstack-engine",
    inbox_prefix: str | None = None,
    connect_timeout: float = 10.0,
    reconnect_time_wait: float = 0.5,
    error_cb: Callable[[Exception], Awaitable[None]] | None = None,
    reconnected_cb: Callable[[], Awaitable[None]] | None = None,
    closed_cb: Callable[[], Awaitable[None]] | None = None,
    tls: ssl.SSLContext | None = None,
) -> NATS:
    """Connect to NATS (`url`: one server, or a cluster's, comma-separated), reconnecting
    forever once connected.

    nats-py gives up after 60 attempts (about two minutes) by default; a log must survive a
    longer server restart, so reconnects never stop. The first connection, though, has to
    succeed within `connect_timeout`, else `LogUnavailable`. `error_cb` hears every error
    nats-py reports (after ours), `reconnected_cb` every reconnection, `closed_cb` the end.
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
        if error_cb is not None:
            await error_cb(exc)

    options: dict[str, Any] = {
        "servers": server_urls(url),
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
    if tls is not None:
        options["tls"] = tls
    if reconnected_cb is not None:
        options["reconnected_cb"] = reconnected_cb
    if closed_cb is not None:
        options["closed_cb"] = closed_cb
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


@dataclass(frozen=True)
class EngineConnection:
    """The engine's NATS connection and, where the logs live on the embedded server, that server
    (to issue direct guests' credentials: engine/guests.py). `server` is None on an external NATS."""

    nc: NATS
    server: EmbeddedServer | None


@asynccontextmanager
async def engine_connection(
    data_dir: Path,
    *,
    url: str | None = None,
    user: str | None = None,
    password: str | None = None,
    listen: str | None = None,
    tls: TlsFiles | None = None,
) -> AsyncIterator[EngineConnection]:
    """The engine's connection: to `url` when given (RAGSTACK_NATS_URL), else to the embedded
    server of `data_dir/nats` — the one already running there (joined: this process may change
    its users), or one started for this block, listening on `listen` ("host:port"; default
    loopback on a port the server picks), requiring TLS of every client with `tls`."""
    from engine.server import EmbeddedServer
    from engine.server_config import parse_listen

    if url is not None:
        nc = await open_nats(url, user, password)
        try:
            yield EngineConnection(nc=nc, server=None)
        finally:
            await _close_quietly(nc)
        return
    host, port = parse_listen(listen)
    server = EmbeddedServer(data_dir / "nats", host=host, port=port, tls=tls)
    joined = server.join()
    if not joined:
        await server.start()
    try:
        context = (
            trusting(server.tls.certificate(), check_hostname=False)
            if server.tls is not None
            else None
        )
        nc = await open_nats(server.url, server.user, server.password, tls=context)
        try:
            yield EngineConnection(nc=nc, server=server)
        finally:
            await _close_quietly(nc)
    finally:
        if not joined:
            await server.stop()


@asynccontextmanager
async def connect_engine(
    data_dir: Path,
    *,
    url: str | None = None,
    user: str | None = None,
    password: str | None = None,
    listen: str | None = None,
) -> AsyncIterator[NATS]:
    """`engine_connection`'s NATS connection alone."""
    async with engine_connection(
        data_dir, url=url, user=user, password=password, listen=listen
    ) as connection:
        yield connection.nc
