"""The common half of the fake provider servers: a real HTTP/1.1 server on a free loopback port,
in a thread, that records every request and can be told to fail.

Each fake (openai.py, gemini.py, ollama.py, anthropic.py) subclasses `FakeServer` and answers in
its API's real wire format. The knobs a test turns:

- `answer`: the text every chat answer streams, word by word;
- `answers`: texts for the next chat answers, one each, in order, before `answer` again
  (openai.py);
- `api_key`: the key the server accepts (None: no key is checked);
- `fail_next(status, times=…, retry_after=…)`: the next requests get the provider's real error body;
- `die_after_chunks = N`: a stream sends N chunks, then the connection is closed without the
  end of the chunked body (a crashed or cut-off server);
- `stall_after_chunks = N`: a stream sends N chunks, then goes silent (the client's read timeout
  must fire);
- `requests`: every request as `Recorded` (method, path, query, headers, decoded JSON body).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import socket
import struct
import sys
import threading
import traceback
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

DEFAULT_ANSWER = "Paris is the capital of France [1]."


@dataclass(frozen=True)
class Recorded:
    """One request the fake received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names in lower case
    body: Any  # the decoded JSON body, or None


@dataclass
class Reply:
    """A whole JSON answer."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class StreamReply:
    """A streamed answer: each chunk is written and flushed on its own (chunked encoding)."""

    content_type: str
    chunks: list[bytes]
    headers: dict[str, str] = field(default_factory=dict)


def pieces(text: str) -> list[str]:
    """`text` cut into word-sized deltas that join back to it exactly."""
    return re.findall(r"\s*\S+|\s+$", text) or [text]


def count_tokens(text: str) -> int:
    """The fakes' token count: one per whitespace-separated word."""
    return len(text.split())


def wrong_role(messages: list[Any], roles: tuple[str, ...]) -> bool:
    """Whether any of a chat request's messages is not an object with one of `roles`."""
    return any(not isinstance(m, dict) or m.get("role") not in roles for m in messages)


def prompt_tokens(messages: list[dict[str, Any]], system: str = "") -> int:
    """The fakes' count of a chat request's prompt: its system text and every message's content."""
    return count_tokens(system) + sum(count_tokens(str(m.get("content", ""))) for m in messages)


def fake_vector(text: str, dim: int) -> list[float]:
    """A deterministic unit vector for `text` (float32 values, so JSON, base64 and float lists
    carry exactly the same numbers)."""
    raw: list[float] = []
    counter = 0
    while len(raw) < dim:
        digest = hashlib.blake2b(f"{counter}:{text}".encode(), digest_size=64).digest()
        raw.extend((b - 127.5) / 127.5 for b in digest)
        counter += 1
    raw = raw[:dim]
    norm = math.sqrt(sum(x * x for x in raw)) or 1.0
    values = [x / norm for x in raw]
    return list(struct.unpack(f"<{dim}f", struct.pack(f"<{dim}f", *values)))


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    fake: FakeServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hung up (a test's timeout or cancel) is expected, not worth a traceback.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            self._send(fake.error_reply(400, "the request body is not valid JSON"))
            return
        request = Recorded(
            method=self.command,
            path=parts.path,
            query=dict(parse_qsl(parts.query)),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        reply = fake.dispatch(request)
        if isinstance(reply, StreamReply):
            self._stream(reply)
        else:
            self._send(reply)

    def _send(self, reply: Reply) -> None:
        data = json.dumps(reply.body).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _stream(self, reply: StreamReply) -> None:
        fake = self.server.fake
        self.send_response(200)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.flush()
        for i, chunk in enumerate(reply.chunks):
            if fake.die_after_chunks is not None and i >= fake.die_after_chunks:
                self._abort()
                return
            if fake.stall_after_chunks is not None and i >= fake.stall_after_chunks:
                fake._stopping.wait(fake.stall_seconds)
                self._abort()
                return
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _abort(self) -> None:
        # Close mid-body: the chunked encoding never ends, as when a server process dies.
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class FakeServer:
    """A provider's API on 127.0.0.1, in a background thread. Use as a context manager."""

    def __init__(
        self,
        *,
        api_key: str | None = "test-key-0123456789",
        answer: str = DEFAULT_ANSWER,
        dim: int = 8,
    ) -> None:
        self.api_key = api_key
        self.answer = answer
        self.answers: list[str] = []
        self.dim = dim
        self.die_after_chunks: int | None = None
        self.stall_after_chunks: int | None = None
        self.stall_seconds = 10.0
        self.requests: list[Recorded] = []
        self._failures: list[tuple[int, float | None]] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- what a subclass provides ---

    def route(self, request: Recorded) -> Reply | StreamReply:
        raise NotImplementedError

    def auth_reply(self, request: Recorded) -> Reply | None:
        """The provider's answer to a wrong or missing key, or None when the key is right."""
        raise NotImplementedError

    def error_reply(
        self, status: int, message: str | None = None, retry_after: float | None = None
    ) -> Reply:
        """The provider's error body for `status`."""
        raise NotImplementedError

    @property
    def base_url(self) -> str:
        """What to give the provider's SDK (and ProviderConfig.base_url)."""
        return self.url

    # --- knobs and records ---

    def fail_next(self, status: int, *, times: int = 1, retry_after: float | None = None) -> None:
        """Answer the next `times` API requests with the provider's error for `status`."""
        with self._lock:
            self._failures.extend([(status, retry_after)] * times)

    def next_answer(self) -> str:
        """The text of the chat answer being made: the first of `answers`, else `answer`."""
        with self._lock:
            return self.answers.pop(0) if self.answers else self.answer

    def requests_to(self, fragment: str) -> list[Recorded]:
        """The recorded requests whose path contains `fragment`."""
        with self._lock:
            return [r for r in self.requests if fragment in r.path]

    def dispatch(self, request: Recorded) -> Reply | StreamReply:
        with self._lock:
            self.requests.append(request)
        denied = self.auth_reply(request) if self.api_key is not None else None
        if denied is not None:
            return denied
        if request.method == "POST":
            with self._lock:
                failure = self._failures.pop(0) if self._failures else None
            if failure is not None:
                status, retry_after = failure
                return self.error_reply(status, retry_after=retry_after)
        return self.route(request)

    # --- life cycle ---

    @property
    def url(self) -> str:
        assert self._httpd is not None, "the fake server is not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Self:
        self._httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.fake = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{type(self).__name__}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def sse(data: Any, event: str | None = None) -> bytes:
    """One server-sent event with a JSON (or literal string) payload."""
    payload = data if isinstance(data, str) else json.dumps(data)
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()


def assert_secret_hidden(exc: BaseException, secret: str) -> None:
    """`secret` (an API key) appears nowhere a person or a log could see `exc`: its text, its
    repr, its formatted traceback; and no SDK exception hangs on it as cause or context."""
    shown = [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    for text in shown:
        assert secret not in text, f"the key leaked into: {text!r}"
    assert exc.__cause__ is None and exc.__context__ is None
