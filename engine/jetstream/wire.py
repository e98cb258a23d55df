"""A minimal NATS connection of our own for the log's two hot paths: bulk reads and bulk appends.

nats-py spends ~10-40 µs of Python per message (header dicts, a `Msg` object, a queue hop on the
way in; per-call header encoding on the way out), which caps a replay well under 100,000
events/s and a bulk import near 10,000. Replays (every projection rebuild, every verify) and
imports are the engine's hot paths, so they go over a second connection: deliveries are parsed
with one regex match per message, payloads and `Rs-Hash` headers sliced out of the receive buffer
a batch at a time; an atomic batch goes out as one write. JetStream administration (creating and
deleting consumers) stays on nats-py with its typed errors; see `engine/jetstream/reads.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import ssl
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from nats.aio.client import Client as NATS

from engine.errors import EventTooLarge, LogUnavailable
from engine.jetstream.feed import Feed, Hole, Reset
from engine.nats import CONSUMER_STALLED_LINE, JS_ACK_PREFIX, WIRE_INBOX_PREFIX, hash_hex_in_block

# HMSG <subject> <sid> [reply] <header bytes> <total bytes>; MSG <subject> <sid> [reply] <bytes>
_HMSG = re.compile(rb"HMSG ([^ ]+) (\d+) (?:([^ ]+) )?(\d+) (\d+)\r\n")
_MSG = re.compile(rb"MSG ([^ ]+) (\d+) (?:([^ ]+) )?(\d+)\r\n")
_REPLY_SID = 1
"""The subscription that receives the replies to our requests (batch commits)."""
MAX_QUEUED_BYTES = 8 * 1024 * 1024
"""Past this much undelivered data a feed holds its flow-control answer, pausing the server."""


@dataclass(frozen=True)
class Endpoint:
    """Where and how to open the raw connection: taken from the engine's nats-py client."""

    host: str
    port: int
    user: str | None = None
    password: str | None = None
    token: str | None = None
    tls: ssl.SSLContext | None = None
    tls_hostname: str | None = None

    @classmethod
    def from_client(cls, nc: NATS) -> Endpoint:
        """The server `nc` is connected to, with the credentials it connected with."""
        url = nc.connected_url
        if url is None:
            raise LogUnavailable("the NATS connection is not connected")
        opts: dict[str, Any] = nc.options
        user, password, token = opts.get("user"), opts.get("password"), opts.get("token")
        if user is None and token is None and url.username is not None:
            if url.password is None:
                token = url.username
            else:
                user, password = url.username, url.password
        if any(callable(v) for v in (user, password, token)):
            raise LogUnavailable("fast reads need plain user/password or token credentials")
        tls = opts.get("tls")
        if tls is None and url.scheme == "tls":
            tls = ssl.create_default_context()
        return cls(
            host=url.hostname or "127.0.0.1",
            port=url.port or 4222,
            user=user,
            password=password,
            token=token,
            tls=tls,
            tls_hostname=opts.get("tls_hostname"),
        )


class _Protocol(asyncio.Protocol):
    def __init__(self, wire: Wire) -> None:
        self.wire = wire
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.info: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.pongs: deque[asyncio.Future[None]] = deque()
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail_waiters(LogUnavailable(f"the engine's fast NATS connection was lost: {exc!r}"))
        self.wire._lost(self)

    def _fail_waiters(self, err: LogUnavailable) -> None:
        """Whoever waits for the server's INFO or a PONG gets `err` instead."""
        if not self.info.done():
            self.info.set_exception(err)
        while self.pongs:
            fut = self.pongs.popleft()
            if not fut.done():
                fut.set_exception(err)

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        pos, end_all = 0, len(buf)
        feeds = self.wire._feeds
        touched: set[Feed] = set()
        match = _HMSG.match
        now = time.monotonic()
        while pos < end_all:
            m = match(buf, pos)
            if m is not None:
                hlen, tlen = int(m[4]), int(m[5])
            else:
                m = _MSG.match(buf, pos)  # no headers: a reply, or a message stored without any
                if m is None:
                    eol = buf.find(b"\r\n", pos)
                    if eol < 0 or buf.startswith((b"HMSG", b"MSG"), pos):
                        break  # a frame whose first line has not fully arrived
                    self._control(buf[pos:eol])
                    pos = eol + 2
                    continue
                hlen, tlen = 0, int(m[4])
            start = m.end()
            end = start + tlen
            if end + 2 > end_all:
                break
            pos = end + 2
            sid, reply = int(m[2]), m[3]
            feed = feeds.get(sid)
            if feed is None:
                if sid == _REPLY_SID:  # the reply to a batch commit (an ack, or a status)
                    self.wire._reply(m[1], buf[start:end])
                continue
            feed.last_seen = now
            if not (reply and reply.startswith(JS_ACK_PREFIX)):
                self._status(feed, reply, buf[start:end])  # flow control, heartbeat, 409...
                continue
            parts = reply.split(b".")
            if len(parts) == 9:
                sseq, dseq = int(parts[5]), int(parts[6])
            elif len(parts) >= 11:  # v2 ack subject: $JS.ACK.<domain>.<account>.<stream>...
                sseq, dseq = int(parts[7]), int(parts[8])
            else:
                feed.fail(Reset(f"unexpected delivery reply {reply!r}"))
                continue
            if dseq != feed.next_dseq:
                feed.fail(Reset(f"delivery {dseq} arrived, {feed.next_dseq} expected"))
                continue
            feed.next_dseq = dseq + 1
            if sseq != feed.next_seq:
                feed.flush()
                if sseq < feed.next_seq:
                    feed.fail(Reset(f"stream sequence went back to {sseq}"))
                    continue
                feed.queue.append(Hole(feed.next_seq, sseq))
            if not feed.cur_payloads:
                feed.cur_first = sseq
            hstart = start + hlen
            feed.cur_hashes.append(hash_hex_in_block(buf, start, hstart))
            feed.cur_payloads.append(buf[hstart:end])
            feed.queued_bytes += end - hstart
            feed.next_seq = sseq + 1
            touched.add(feed)
        self.buf = buf[pos:]
        for feed in touched:
            feed.flush()
            feed.wake()

    def _control(self, line: bytes) -> None:
        if line.startswith(b"PING"):
            self.write(b"PONG\r\n")
        elif line.startswith(b"PONG"):
            if self.pongs:
                fut = self.pongs.popleft()
                if not fut.done():
                    fut.set_result(None)
        elif line.startswith(b"INFO "):
            if not self.info.done():
                self.info.set_result(line[5:])
        elif line.startswith(b"-ERR"):
            self._fail_waiters(
                LogUnavailable(f"NATS refused the read connection: {line.decode(errors='replace')}")
            )

    def _status(self, feed: Feed, reply: bytes | None, header: bytes) -> None:
        code = header[9:12]
        if code == b"100":
            if reply:  # flow control: answer now, or once the reader has caught up
                if feed.queued_bytes > MAX_QUEUED_BYTES:
                    feed.held_fc = reply
                else:
                    self.write(b"PUB %s 0\r\n\r\n" % reply)
            else:  # idle heartbeat; it names a flow-control request we may have missed
                i = header.find(CONSUMER_STALLED_LINE)
                if i >= 0 and feed.queued_bytes <= MAX_QUEUED_BYTES:
                    subject = header[i + len(CONSUMER_STALLED_LINE) : header.find(b"\r\n", i)]
                    self.write(b"PUB %s 0\r\n\r\n" % subject)
        else:  # 409 consumer deleted, leadership change, ...: start over
            feed.fail(Reset(header.decode(errors="replace").strip()))


class Wire:
    """One raw NATS connection: the deliveries of any number of feeds, and batch publishes."""

    def __init__(self, nc: NATS, *, endpoint: Endpoint | None = None) -> None:
        self.nc = nc
        self._endpoint = endpoint
        self._proto: _Protocol | None = None
        self._connecting = asyncio.Lock()
        self._feeds: dict[int, Feed] = {}
        self._next_sid = _REPLY_SID
        self._inbox = f"{WIRE_INBOX_PREFIX}.{nc._nuid.next().decode()}"
        self._replies: dict[bytes, asyncio.Future[bytes]] = {}
        self._next_reply = 0
        self.max_payload = 1024 * 1024
        self.cleanup: set[asyncio.Task[None]] = set()

    async def close(self) -> None:
        """Close the connection (feeds in progress start over on a new one, or fail)."""
        proto, self._proto = self._proto, None
        if proto is not None and proto.transport is not None:
            proto.transport.close()
        for task in list(self.cleanup):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 2)

    def _lost(self, proto: _Protocol) -> None:
        if self._proto is proto:
            self._proto = None
        for feed in self._feeds.values():
            feed.fail(Reset("connection lost"))
        replies, self._replies = self._replies, {}
        for fut in replies.values():
            if not fut.done():
                fut.set_exception(LogUnavailable("the connection was lost before the reply"))

    def _reply(self, subject: bytes, data: bytes) -> None:
        fut = self._replies.pop(subject, None)
        if fut is not None and not fut.done():
            fut.set_result(data)

    async def connect(self) -> _Protocol:
        """The live connection, opened (or re-opened) on demand."""
        async with self._connecting:
            if self._proto is not None and not self._proto.closed:
                return self._proto
            ep = self._endpoint or Endpoint.from_client(self.nc)
            loop = asyncio.get_running_loop()
            try:
                transport, proto = await asyncio.wait_for(
                    loop.create_connection(lambda: _Protocol(self), ep.host, ep.port), 5
                )
                info = json.loads(await asyncio.wait_for(proto.info, 5))
                self.max_payload = int(info.get("max_payload", self.max_payload))
                if info.get("tls_required") or ep.tls is not None:
                    tls = ep.tls or ssl.create_default_context()
                    new = await loop.start_tls(
                        transport, proto, tls, server_hostname=ep.tls_hostname or ep.host
                    )
                    assert new is not None
                    proto.transport = new  # type: ignore[assignment]
                connect: dict[str, Any] = {
                    "verbose": False,
                    "pedantic": False,
                    "headers": True,
                    "no_responders": True,
                    "protocol": 1,
                    "lang": "python-ragstack-wire",
                    "version": "1",
                    "name": "ragstack-wire",
                }
                if ep.user is not None:
                    connect["user"], connect["pass"] = ep.user, ep.password or ""
                elif ep.token is not None:
                    connect["auth_token"] = ep.token
                proto.write(b"CONNECT " + json.dumps(connect).encode() + b"\r\n")
                proto.write(b"SUB %s.r.* %d\r\n" % (self._inbox.encode(), _REPLY_SID))
                await self.ping(proto)
            except (TimeoutError, OSError, ssl.SSLError, ValueError) as exc:
                raise LogUnavailable(
                    f"cannot open the engine's fast NATS connection: {exc!r}"
                ) from None
            self._proto = proto
            return proto

    async def ping(self, proto: _Protocol) -> None:
        """Round trip: everything written before has been processed by the server."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        proto.pongs.append(fut)
        proto.write(b"PING\r\n")
        try:
            await asyncio.wait_for(fut, 5)
        except TimeoutError:
            raise LogUnavailable("the engine's fast NATS connection does not answer") from None

    # --- feeds (see engine/jetstream/reads.py) ---

    async def open_feed(self, next_seq: int) -> tuple[Feed, str]:
        """A new feed and the subject its consumer must deliver to; the server knows our
        interest in it when this returns."""
        proto = await self.connect()
        self._next_sid += 1
        feed = Feed(self._next_sid, next_seq)
        self._feeds[feed.sid] = feed
        subject = f"{self._inbox}.d.{feed.sid}"
        proto.write(b"SUB %s %d\r\n" % (subject.encode(), feed.sid))
        try:
            await self.ping(proto)
        except BaseException:
            self.close_feed(feed)
            raise
        return feed, subject

    def close_feed(self, feed: Feed) -> None:
        """Stop receiving a feed's deliveries."""
        self._feeds.pop(feed.sid, None)
        if self._proto is not None:
            self._proto.write(b"UNSUB %d\r\n" % feed.sid)

    def answer_held_flow_control(self, feed: Feed) -> None:
        """Let the server go on once the reader has drained a feed's backlog."""
        if feed.held_fc is not None and feed.queued_bytes <= MAX_QUEUED_BYTES // 2:
            if self._proto is not None:
                self._proto.write(b"PUB %s 0\r\n\r\n" % feed.held_fc)
            feed.held_fc = None

    # --- atomic batches ---

    async def send_batch(
        self, subject: str, messages: list[tuple[bytes, bytes]]
    ) -> asyncio.Future[bytes]:
        """Send `(header block, payload)` messages as one atomic batch, in one write: the header
        blocks must carry the batch headers, the last one the commit. Returns the future of the
        server's reply to the commit (a JSON pub ack or error, or a NATS status block)."""
        proto = await self.connect()
        subj = subject.encode()
        self._next_reply += 1
        reply = b"%s.r.%d" % (self._inbox.encode(), self._next_reply)
        frames = []
        last = len(messages) - 1
        for i, (header, payload) in enumerate(messages):
            size = len(header) + len(payload)
            if size > self.max_payload:
                raise EventTooLarge(len(payload), self.max_payload - len(header))
            if i < last:
                frames.append(b"HPUB %s %d %d\r\n" % (subj, len(header), size))
            else:
                frames.append(b"HPUB %s %s %d %d\r\n" % (subj, reply, len(header), size))
            frames += (header, payload, b"\r\n")
        fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._replies[reply] = fut
        fut.add_done_callback(lambda _: self._replies.pop(reply, None))
        proto.write(b"".join(frames))
        return fut
