"""The web app's build on disk: files read once, with their media type, ETag and gzip form.

The build is small (a shell and a few hashed bundles), so each file is held in memory after its
first request, keyed by its size and modification time: a rebuilt file is read again, with no
restart. A file `x.js.gz` beside `x.js` is served as its gzip form (made at build time, at the
best level); otherwise text is gzipped here once, at first request.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

__all__ = ["BuildFile", "WebAppBuild", "accepts_gzip", "clean_relative"]

_MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".webmanifest": "application/manifest+json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".ico": "image/x-icon",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".ttf": "font/ttf",
    ".otf": "font/otf",
    ".wasm": "application/wasm",
    ".txt": "text/plain; charset=utf-8",
    ".pdf": "application/pdf",
    ".mp3": "audio/mpeg",
    ".mp4": "video/mp4",
}
# Media types worth compressing (images and fonts other than SVG are compressed already).
_COMPRESSIBLE = ("text/", "application/json", "application/manifest+json", "image/svg+xml")
_COMPRESSIBLE_EXACT = frozenset({"application/wasm", "image/x-icon"})
_MIN_GZIP_BYTES = 512


@dataclass(frozen=True, slots=True)
class BuildFile:
    """One file of the build, ready to send."""

    body: bytes
    gzipped: bytes | None
    """Its gzip form when that is smaller, else None."""
    media_type: str
    etag: str


def _media_type(path: PurePosixPath) -> str:
    suffix = path.suffix.lower()
    if suffix in _MEDIA_TYPES:
        return _MEDIA_TYPES[suffix]
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or "application/octet-stream"


def _compressible(media_type: str) -> bool:
    return media_type.startswith(_COMPRESSIBLE) or media_type in _COMPRESSIBLE_EXACT


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether an `Accept-Encoding` value allows gzip (`gzip`, `*`, not with `q=0`)."""
    for part in (accept_encoding or "").lower().split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip() in ("gzip", "*"):
            q = params.strip().removeprefix("q=") if params.strip().startswith("q=") else "1"
            try:
                return float(q) > 0
            except ValueError:
                return False
    return False


def clean_relative(path: str) -> PurePosixPath | None:
    """`path` as a path inside the build, or None for anything that could leave it or is hidden
    (`..`, `.`, dot files, backslashes, NUL)."""
    if not path or "\\" in path or "\x00" in path:
        return None
    parts = path.split("/")
    if any(not part or part.startswith(".") for part in parts):
        return None
    return PurePosixPath(*parts)


class WebAppBuild:
    """The build directory (`index.html`, `assets/`, maybe a favicon): present or not."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._cache: dict[PurePosixPath, tuple[tuple[int, int], BuildFile]] = {}

    @property
    def present(self) -> bool:
        """Whether there is a build to serve (its `index.html`)."""
        return (self.directory / "index.html").is_file()

    def file(self, relative: PurePosixPath) -> BuildFile | None:
        """The file at `relative` inside the build, or None if there is no such regular file."""
        path = self.directory.joinpath(*relative.parts)
        try:
            info = path.stat()
            if not path.is_file() or not path.resolve().is_relative_to(self.directory.resolve()):
                return None
        except OSError:
            return None
        stamp = (info.st_size, info.st_mtime_ns)
        cached = self._cache.get(relative)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        try:
            body = path.read_bytes()
        except OSError:
            return None
        media_type = _media_type(relative)
        made = BuildFile(
            body=body,
            gzipped=self._gzipped(path, body, media_type),
            media_type=media_type,
            etag='"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"',
        )
        self._cache[relative] = (stamp, made)
        return made

    @staticmethod
    def _gzipped(path: Path, body: bytes, media_type: str) -> bytes | None:
        beside = path.with_name(path.name + ".gz")
        if beside.is_file():
            try:
                return beside.read_bytes()
            except OSError:
                pass
        if len(body) < _MIN_GZIP_BYTES or not _compressible(media_type):
            return None
        packed = gzip.compress(body, compresslevel=9, mtime=0)
        return packed if len(packed) < len(body) else None
