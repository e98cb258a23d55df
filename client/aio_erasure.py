"""The erasure half of `AsyncClient` (docs/log-format.md, "Erasure"): a person's export and
erasure, an admin's erasure of a source, and the re-fork of an old chapter into the sealed
format. The answers are plain JSON objects (their shapes are the gateway's)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["ErasureCalls"]


class ErasureCalls:
    """Mixed into `AsyncClient`, which provides `request` (one JSON request)."""

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        raise NotImplementedError

    async def export_me(self) -> Mapping[str, Any]:
        """All of the caller's data: profile, books, their chapters, their messages."""
        return await self.request("GET", "/v1/me/export", slow=True)

    async def erase_me(self) -> Mapping[str, Any]:
        """Erase the caller's account and everything that is theirs (cannot be undone)."""
        return await self.request("DELETE", "/v1/me", slow=True)

    async def erase_source(self, chapter: str, source: str) -> Mapping[str, Any]:
        """Erase one source (owner or admins of the book)."""
        return await self.request(
            "POST", f"/v1/chapters/{chapter}/sources/{source}/erase", slow=True
        )

    async def migrate_chapter(self, chapter: str) -> Mapping[str, Any]:
        """Re-fork a chapter written before sealing into a new, sealed chapter; the new one."""
        return await self.request("POST", f"/v1/chapters/{chapter}/migrate", slow=True)
