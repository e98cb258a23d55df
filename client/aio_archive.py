"""The archive half of `AsyncClient`: export a chapter to a file, import one into a book, and
verify an archive offline (docs/log-format.md, "Archives").

An export is streamed to `<path>.part` and renamed when whole, so an interrupted download never
leaves a file that looks like an archive. Verifying an archive needs no server:
`events.archive_check.verify_archive_file` is the check the server runs before an import.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import httpx

from client.errors import ApiError, error_from
from client.models import Chapter
from client.wire import convert
from events.archive import ARCHIVE_MEDIA_TYPE

__all__ = ["ArchiveCalls"]

_CHUNK = 1 << 20
_TRANSFER_TIMEOUT = httpx.Timeout(600.0, connect=10.0)


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as file:
        while chunk := await asyncio.to_thread(file.read, _CHUNK):
            yield chunk


class ArchiveCalls:
    """Mixed into `AsyncClient`, which provides the HTTP plumbing below."""

    _http: httpx.AsyncClient

    def _headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        raise NotImplementedError

    def _transport_error(self, exc: httpx.TransportError) -> ApiError:
        raise NotImplementedError

    async def export_chapter(self, chapter: str, path: str | os.PathLike[str]) -> Path:
        """Download the chapter's archive (at its head now) to `path`; the path written."""
        target = Path(path)
        part = target.with_name(target.name + ".part")
        headers = self._headers({"Accept": ARCHIVE_MEDIA_TYPE})
        try:
            async with self._http.stream(
                "GET", f"/v1/chapters/{chapter}/export", headers=headers, timeout=_TRANSFER_TIMEOUT
            ) as response:
                if response.status_code >= 400:
                    raise error_from(response, await response.aread())
                with part.open("wb") as out:
                    async for chunk in response.aiter_bytes(_CHUNK):
                        await asyncio.to_thread(out.write, chunk)
        except httpx.TransportError as exc:
            part.unlink(missing_ok=True)
            raise self._transport_error(exc) from None
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        part.replace(target)
        return target

    async def import_archive(
        self, book: str, path: str | os.PathLike[str], *, title: str | None = None
    ) -> Chapter:
        """Import an archive into `book` as a new chapter (verified by the server first: 422
        `archive_rejected` names the first bad rev, and nothing is imported)."""
        headers = self._headers({"Content-Type": ARCHIVE_MEDIA_TYPE})
        params: dict[str, Any] = {"title": title} if title else {}
        try:
            response = await self._http.post(
                f"/v1/books/{book}/imports",
                content=_file_chunks(Path(path)),
                params=params,
                headers=headers,
                timeout=_TRANSFER_TIMEOUT,
            )
        except httpx.TransportError as exc:
            raise self._transport_error(exc) from None
        if response.status_code >= 400:
            raise error_from(response, response.content)
        return convert(response.json(), Chapter)
