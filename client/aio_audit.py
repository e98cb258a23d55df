"""The audit half of `AsyncClient`: a chapter's log as stored, its history, its state at a rev or
a time, verification (by the server, or here from the stored bytes) and Merkle proofs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, TypeVar

import msgspec

from client.chain import ChainChecker
from client.errors import ApiError
from client.models import (
    BookKeys,
    Chapter,
    ChapterState,
    EventPage,
    HistoryEntry,
    HistoryPage,
    LogEvent,
    Proof,
    VerifyResult,
)
from client.models_history import ChapterDiff, Provenance
from client.proofs import Consistency
from events import ChapterForked
from events.copies import CopyManifest, decode_manifest, verify_copy
from events.envelope import DecodeError
from events.keys import KeyHistory

__all__ = ["AUDIT_PAGE", "AuditCalls"]

T = TypeVar("T")

AUDIT_PAGE = 1000
"""Events asked for per request when paging through a log (the server's largest page)."""


def _manifest_or_none(data: bytes) -> CopyManifest | None:
    try:
        return decode_manifest(data)
    except DecodeError:
        return None  # verify_copy names what is wrong with it


class AuditCalls:
    """Mixed into `AsyncClient`, which provides `_typed` (one typed request) and `fetch_bytes`."""

    async def _typed(self, kind: type[T], method: str, path: str, **kwargs: Any) -> T:
        raise NotImplementedError

    async def fetch_bytes(self, path: str, *, params: Mapping[str, Any] | None = None) -> bytes:
        raise NotImplementedError

    async def events(self, chapter: str, *, after: int = 0, limit: int | None = None) -> EventPage:
        """One page of a chapter's log as stored (rev, hash, payload, decoded event)."""
        params = {"after": after, "limit": limit}
        return await self._typed(EventPage, "GET", f"/v1/chapters/{chapter}/events", params=params)

    async def iter_events(
        self, chapter: str, *, after: int = 0, until: int | None = None
    ) -> AsyncIterator[LogEvent]:
        """Every event after `after` (through `until`), page after page."""
        next_after: int | None = after
        while next_after is not None and (until is None or next_after < until):
            limit = AUDIT_PAGE if until is None else min(AUDIT_PAGE, until - next_after)
            page = await self.events(chapter, after=next_after, limit=limit)
            for event in page.events:
                yield event
            next_after = page.next_after if page.events else None

    async def book_keys(self, book: str) -> BookKeys:
        """The book's signing keys, current and past, with their rotation signatures."""
        return await self._typed(BookKeys, "GET", f"/v1/books/{book}/keys")

    async def verify_here(self, chapter: str, *, book: str | None = None) -> VerifyResult:
        """Verify the chapter's chain and signed heads on this side, from the stored payloads and
        hashes the server hands out and the book's keys (re-checked here): an auditor need not
        take the server's word (`verify`) for it. `book`: the chapter's book, if known.

        A copy is checked against its original too, from its manifest (GET …/manifest): every
        copied event against the original's bytes and signed root, the signature against the
        original book's keys when the caller may list them, else against the keys the manifest
        carries (`signed_by` is not shown: compare keys with `book_keys` if you pinned one)."""
        if book is None:
            info = await self._typed(Chapter, "GET", f"/v1/chapters/{chapter}")
            book = info.book
        listed = await self.book_keys(book)
        checker = ChainChecker(chapter, KeyHistory.of_keys(book, listed.keys))
        copied: list[bytes] = []  # a copy's first payloads, which its manifest checks
        manifest: CopyManifest | None = None
        data = b""
        next_after: int | None = 0
        while next_after is not None:
            page = await self.events(chapter, after=next_after, limit=AUDIT_PAGE)
            recorded = [e.recorded() for e in page.events]
            if (
                next_after == 0
                and recorded
                and isinstance(recorded[0].envelope.body, ChapterForked)
            ):
                data = await self.fetch_bytes(f"/v1/chapters/{chapter}/manifest")
                manifest = _manifest_or_none(data)
            if manifest is not None and len(copied) <= len(manifest.events):
                copied.extend(e.payload for e in recorded[: len(manifest.events) + 1 - len(copied)])
            if not checker.feed(recorded):
                break
            next_after = page.next_after if page.events else None
        result = checker.result()
        if not result.ok or not data:
            return result
        return await self._checked_copy(result, data, manifest, copied)

    async def _checked_copy(
        self, result: VerifyResult, data: bytes, manifest: CopyManifest | None, copied: list[bytes]
    ) -> VerifyResult:
        keys = None
        if manifest is not None and manifest.book is not None:
            try:  # the original book's own history, when the caller is one of its members
                listed = await self.book_keys(manifest.book)
                keys = KeyHistory.of_keys(manifest.book, listed.keys)
            except ApiError:
                keys = None
        report = verify_copy(data, copied, keys=keys)
        if report.ok:
            return result
        bad, reason = report.copy_fault()
        return msgspec.structs.replace(result, ok=False, first_bad_rev=bad, reason=reason)

    async def history(
        self, chapter: str, *, after: int = 0, limit: int | None = None
    ) -> HistoryPage:
        """One page of the chapter's events for people: when, who, what kind, what happened."""
        params = {"after": after, "limit": limit}
        path = f"/v1/chapters/{chapter}/history"
        return await self._typed(HistoryPage, "GET", path, params=params)

    async def iter_history(
        self, chapter: str, *, after: int = 0, limit: int | None = None
    ) -> AsyncIterator[HistoryEntry]:
        """History entries after `after`, at most `limit` of them, page after page."""
        left = limit
        next_after: int | None = after
        while next_after is not None and (left is None or left > 0):
            size = AUDIT_PAGE if left is None else min(AUDIT_PAGE, left)
            page = await self.history(chapter, after=next_after, limit=size)
            for entry in page.history:
                yield entry
            if left is not None:
                left -= len(page.history)
            next_after = page.next_after if page.history else None

    async def verify(self, chapter: str) -> VerifyResult:
        """The server's verification of the chapter's chain (see also `verify_here`)."""
        return await self._typed(VerifyResult, "GET", f"/v1/chapters/{chapter}/verify")

    async def state(
        self,
        chapter: str,
        *,
        rev: int | None = None,
        at: int | None = None,
        include_removed: bool = False,
        messages: bool = False,
    ) -> ChapterState:
        """The chapter as it was at `rev` or at unix ms `at` (neither: now), folded from its log."""
        params: dict[str, Any] = {"rev": rev, "at": at}
        if include_removed:
            params["include_removed"] = "true"
        if messages:
            params["messages"] = "true"
        path = f"/v1/chapters/{chapter}/state"
        return await self._typed(ChapterState, "GET", path, params=params)

    async def proof(self, chapter: str, rev: int, *, size: int | None = None) -> Proof:
        """A Merkle inclusion proof of event `rev` among the first `size` (default: all); check
        it with `Proof.verify`."""
        params = {"rev": rev, "size": size}
        return await self._typed(Proof, "GET", f"/v1/chapters/{chapter}/proof", params=params)

    async def diff(self, chapter: str, from_rev: int, to_rev: int | None = None) -> ChapterDiff:
        """What changed from rev `from_rev` to `to_rev` (default: the head): sources added,
        removed, retagged and edited (a bounded text diff), the title, messages posted."""
        params = {"from": from_rev, "to": to_rev}
        return await self._typed(ChapterDiff, "GET", f"/v1/chapters/{chapter}/diff", params=params)

    async def provenance(self, chapter: str, thread: str, message: str) -> Provenance:
        """An answer's rev, cited passages, model and retrieval, and that retrieval re-run."""
        path = f"/v1/chapters/{chapter}/threads/{thread}/messages/{message}/provenance"
        return await self._typed(Provenance, "GET", path)

    async def consistency(
        self, chapter: str, old_size: int, *, to: int | None = None
    ) -> Consistency:
        """A consistency proof that the first `old_size` events are a prefix of the first `to`
        (default: all); check it against a root you trust with `client.proofs.RootPin`."""
        params = {"from": old_size, "to": to}
        path = f"/v1/chapters/{chapter}/proof"
        return await self._typed(Consistency, "GET", path, params=params)
