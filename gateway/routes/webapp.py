"""The web app: its shell at `/` and at every path the app routes to, its files under `/assets/`.

The app (web/, React) is built into a directory of this package, `gateway/webapp/` (`WEBAPP_DIR`):
`index.html`, the hashed bundles in `assets/`, maybe a favicon beside them. It ships inside the
Python package, so `ragstack serve` on a fresh clone serves the app with no Node step.

- `GET /assets/<file>`: the file, `Cache-Control: public, max-age=31536000, immutable` (the
  names carry a content hash), its media type, gzip when the client takes it; 404 if missing.
- `GET /<anything else>`: a file at the build's top (`/favicon.ico`) if there is one; else, for
  a path without a file extension, the shell (`index.html`) with a strict Content-Security-Policy
  (`SHELL_CSP`: this origin only, no inline script or style, no framing) and `no-cache`, so that
  the app's client-side router takes over (`/books/…`, `/chapters/…`); else 404.
- The API and the server's own pages are never the app's: `/v1`, `/docs`, `/redoc`,
  `/openapi.json`, `/health`, `/metrics` and everything under them (`RESERVED_PREFIXES`) are
  routed as if this module did not exist, including their 404s and 405s. Only GET is served,
  and only where no route matched (`install_fallback`: the router's default, not a route).
- Without a build (a fresh checkout before the app is built), `/` is the welcome page
  (gateway/routes/home.py) and other paths are 404.

The directory is `app.state.webapp` (gateway/app.py's `create_app(…, webapp_dir=…)`), so tests
serve a build of their own.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException
from starlette.routing import get_route_path
from starlette.types import Receive, Scope, Send

from gateway.routes.home import welcome_page
from gateway.webapp_files import BuildFile, WebAppBuild, accepts_gzip, clean_relative

__all__ = [
    "RESERVED_PREFIXES",
    "SHELL_CSP",
    "WEBAPP_DIR",
    "install_fallback",
    "is_reserved",
    "router",
]

WEBAPP_DIR = Path(__file__).resolve().parent.parent / "webapp"
"""Where the web app's build is written (web/'s build output) and served from by default."""

RESERVED_PREFIXES: tuple[str, ...] = (
    "/v1",
    "/docs",
    "/redoc",
    "/openapi.json",
    "/health",
    "/metrics",
    "/assets",
)
"""Paths (and everything under them) the app's fallback never answers."""

SHELL_CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "font-src 'self'",
        "connect-src 'self'",
        "media-src 'self' blob:",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
"""The shell's Content-Security-Policy: everything from this origin, nothing inline.

`blob:` for images, media and workers lets the app show an uploaded file or run a PDF viewer's
worker; `data:` images cover small inlined icons. Scripts and styles must be files of the build.
"""

_IMMUTABLE = "public, max-age=31536000, immutable"
_REVALIDATE = "no-cache"
_SHELL_HEADERS = {
    "Content-Security-Policy": SHELL_CSP,
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def is_reserved(path: str) -> bool:
    """Whether `path` belongs to the API or the server's own pages, never to the app."""
    return any(path == p or path.startswith(p + "/") for p in RESERVED_PREFIXES)


def _build(request: Request) -> WebAppBuild:
    build: WebAppBuild = request.app.state.webapp
    return build


def _send(
    request: Request, found: BuildFile, cache_control: str, extra: dict[str, str] | None = None
) -> Response:
    headers = {
        "Cache-Control": cache_control,
        "ETag": found.etag,
        "Vary": "Accept-Encoding",
        "X-Content-Type-Options": "nosniff",
        **(extra or {}),
    }
    if found.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    body = found.body
    if found.gzipped is not None and accepts_gzip(request.headers.get("accept-encoding")):
        body = found.gzipped
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type=found.media_type, headers=headers)


def _shell(request: Request, build: WebAppBuild) -> Response:
    found = build.file(PurePosixPath("index.html"))
    if found is None:  # removed since `present` was asked
        raise HTTPException(404)
    return _send(request, found, _REVALIDATE, _SHELL_HEADERS)


router = APIRouter(include_in_schema=False)


@router.get("/")
async def read_app_root(request: Request) -> Response:
    """The app's shell, or the welcome page while there is no build."""
    build = _build(request)
    return _shell(request, build) if build.present else welcome_page(request)


@router.get("/assets/{path:path}")
async def read_asset(request: Request, path: str) -> Response:
    """A file of the build's `assets/` (hashed names: cached for a year)."""
    relative = clean_relative(path)
    found = _build(request).file("assets" / relative) if relative is not None else None
    if found is None:
        raise HTTPException(404, f"the web app has no asset {path}")
    return _send(request, found, _IMMUTABLE)


def _app_page(request: Request, path: str) -> Response:
    """A top-level file of the build, or the shell for a path the app routes to; else 404."""
    build = _build(request)
    if not build.present:
        raise HTTPException(404)
    relative = clean_relative(path)
    found = build.file(relative) if relative is not None else None
    if found is not None and relative is not None and relative.name != "index.html":
        return _send(request, found, _REVALIDATE)
    last = path.rstrip("/").rsplit("/", 1)[-1]
    if "." in last and last != "index.html":  # a file that is not there, not a page
        raise HTTPException(404)
    return _shell(request, build)


def install_fallback(app: FastAPI) -> None:
    """Answer a GET that no route takes, outside the reserved paths, with the app's page.

    It is the router's default (what runs when nothing matched), not a catch-all route: a route
    added later still wins, and a path some route serves by another method keeps its 405.
    """
    not_found = app.router.default

    async def fallback(scope: Scope, receive: Receive, send: Send) -> None:
        path = get_route_path(scope)
        if scope["type"] != "http" or scope["method"] != "GET" or is_reserved(path):
            await not_found(scope, receive, send)
            return
        response = _app_page(Request(scope, receive), path.removeprefix("/"))
        await response(scope, receive, send)

    app.router.default = fallback
