"""A small real web site on a loopback port, for fetching web pages in tests.

    with LocalSite() as site:
        site.page("/article", html_bytes)             # text/html with a Content-Length
        site.route("/logo.png", PNG_RED, "image/png")
        site.redirect("/old", "/article")
        url = site.url("/article")

Routes answer in a thread of a `ThreadingHTTPServer`; `requests` lists the paths asked for.
A route may stream its body in chunks without a Content-Length (`stream=True`), or stall before
answering (`delay_s`).
"""

from __future__ import annotations

import contextlib
import struct
import threading
import time
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A valid PNG of one colour."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


PNG_RED = png(2, 2, (255, 0, 0))
PNG_BLUE = png(3, 1, (0, 0, 255))


@dataclass
class Route:
    status: int
    content_type: str | None
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    stream: bool = False
    delay_s: float = 0.0


class LocalSite:
    """A web site served from memory on 127.0.0.1."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[str] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                return None

            def do_GET(self) -> None:
                site.requests.append(self.path)
                route = site.routes.get(self.path.split("?", 1)[0])
                if route is None:
                    route = Route(404, "text/html", b"<html><body>Not here</body></html>")
                if route.delay_s:
                    time.sleep(route.delay_s)
                self.send_response(route.status)
                if route.content_type:
                    self.send_header("Content-Type", route.content_type)
                for name, value in route.headers.items():
                    self.send_header(name, value)
                if route.stream:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    try:
                        for start in range(0, len(route.body), 64 * 1024):
                            piece = route.body[start : start + 64 * 1024]
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                        self.wfile.write(b"0\r\n\r\n")
                    except (BrokenPipeError, ConnectionResetError):
                        pass  # the client stopped reading: that is what limits do
                    return
                self.send_header("Content-Length", str(len(route.body)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(route.body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def route(
        self,
        path: str,
        body: bytes,
        content_type: str | None,
        *,
        status: int = 200,
        stream: bool = False,
        delay_s: float = 0.0,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.routes[path] = Route(status, content_type, body, headers or {}, stream, delay_s)

    def page(self, path: str, html: str | bytes) -> None:
        body = html.encode() if isinstance(html, str) else html
        self.route(path, body, "text/html; charset=utf-8")

    def redirect(self, path: str, to: str, status: int = 302) -> None:
        self.route(path, b"", None, status=status, headers={"Location": to})

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


ARTICLE_TEXT = (
    "Lighthouses of the northern coast were lit by whale oil until 1870, when mineral oil "
    "replaced it. Each keeper logged the weather every four hours."
)


def article_html(image_paths: tuple[str, ...] = ("/img/red.png", "img/blue.png")) -> str:
    """A page with a title, chrome around its main text, and images."""
    images = "".join(f'<img src="{p}" alt="figure">' for p in image_paths)
    return (
        "<!doctype html><html><head><title>  Northern\n Lighthouses </title>"
        "<script>var tracking = 1;</script></head><body>"
        "<nav>Home | About | Contact</nav>"
        f"<main><h1>Northern lighthouses</h1><p>{ARTICLE_TEXT}</p>{images}</main>"
        "</body></html>"
    )


def serve_article(site: LocalSite) -> None:
    """Put the article (ARTICLE_TEXT) at /article on `site`, with its red and blue images."""
    site.page("/article", article_html())
    site.route("/img/red.png", PNG_RED, "image/png")
    site.route("/img/blue.png", PNG_BLUE, "image/png")
