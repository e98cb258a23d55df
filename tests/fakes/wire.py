"""The loopback HTTP server the connector fakes (confluence_server.py, notion_server.py,
zotero_server.py) answer through: each request goes to the fake's `answer`, whose (status,
headers, bytes) are written back as they are. base.FakeServer suits the model providers' JSON
replies; these APIs also answer raw file bytes and 304s, so they need the bytes untouched."""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

Answer = Callable[
    [str, str, dict[str, str], dict[str, str], bytes], tuple[int, dict[str, str], bytes]
]
"""(method, path, query, headers in lower case, body) → (status, headers, body)."""

_NO_BODY = (204, 304)


class WireServer:
    """`answer` served on 127.0.0.1 at a free port, in a daemon thread, for `methods` (others
    get 405), until `close`."""

    def __init__(self, answer: Answer, methods: Collection[str] = ("GET",)) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.command not in methods:
                    status, headers, payload = 405, {}, b""
                else:
                    parts = urlsplit(self.path)
                    status, headers, payload = answer(
                        self.command, parts.path, dict(parse_qsl(parts.query)),
                        {k.lower(): v for k, v in self.headers.items()}, body,
                    )  # fmt: skip
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if status not in _NO_BODY:  # HTTP forbids a body (and its length) on these
                    self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if status not in _NO_BODY:
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
