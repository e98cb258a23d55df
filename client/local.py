"""Audit against a local data directory, without a gateway: what `ragstack history|verify|replay
--data DIR` (or any of them when not logged in) runs.

It reads the logs straight from NATS — the nats-server a running `ragstack serve` has on that
directory, or one started for the command and stopped after it, or RAGSTACK_NATS_URL — so an
auditor on the machine needs no account. Like client/serve.py, it imports the server packages
inside its functions only.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from client.cli_common import CliError
from client.models import ChapterState, Head, HistoryEntry, VerifyResult, iso_time

if TYPE_CHECKING:
    from engine.log import Logs

__all__ = ["local_history", "local_replay", "local_verify"]

T = TypeVar("T")


@asynccontextmanager
async def _logs(data: Path | None) -> AsyncIterator[Logs]:
    from app.settings import ConfigError, load_settings
    from engine.blobs import open_blob_store
    from engine.log import Logs
    from engine.nats import connect_engine

    try:
        settings = load_settings(data_dir=str(data) if data is not None else None)
    except ConfigError as exc:
        raise CliError(str(exc), code="config") from None
    if settings.nats.url is None and not (settings.data / "nats").is_dir():
        # Starting an embedded server here would create an empty store: say what is wrong.
        raise CliError(
            f"no RagStack data in {settings.data} (give --data DIR, or log in to a server)",
            code="no_data",
        )
    async with (
        connect_engine(
            settings.data,
            url=settings.nats.url,
            user=settings.nats.user,
            password=settings.nats.password,
        ) as nc,
    ):
        # The blob store opens what the chained bytes sealed away (names, titles, messages).
        blobs = open_blob_store(settings.blobs or settings.data / "blobs")
        try:
            async with Logs(nc, blobs=blobs) as logs:
                yield logs
        finally:
            await blobs.aclose()


def _run(data: Path | None, work: Callable[[Logs], Awaitable[T]]) -> T:
    from engine.errors import EngineError

    async def main() -> T:
        async with _logs(data) as logs:
            return await work(logs)

    try:
        return asyncio.run(main())
    except EngineError as exc:
        raise CliError(str(exc), code=getattr(exc, "code", "engine_error")) from None


async def _require(logs: Logs, chapter: str) -> None:
    from engine.errors import ChapterNotFound

    if not await logs.chapter(chapter).exists():
        raise ChapterNotFound(chapter)


def local_history(
    data: Path | None, chapter: str, *, after: int = 0, limit: int | None = None
) -> list[HistoryEntry]:
    """Events after `after` (at most `limit`), each with actor, time, type and a short summary."""
    from events import SourceAdded, UnknownEvent
    from projections.audit import read_envelopes, summarize

    async def work(logs: Logs) -> list[HistoryEntry]:
        await _require(logs, chapter)
        names: dict[str, str] = {}
        entries: list[HistoryEntry] = []
        until = None if limit is None else after + limit
        # From rev 1: summaries name sources, and a source's name is in the event that added it.
        async for event, envelope in read_envelopes(logs.chapter(chapter), 0, until):
            if isinstance(envelope.body, SourceAdded):
                names[envelope.body.source] = envelope.body.name
            if event.rev <= after:
                continue
            body = envelope.body
            kind = body.type if isinstance(body, UnknownEvent) else type(body).__name__
            entries.append(
                HistoryEntry(
                    rev=event.rev,
                    id=envelope.id,
                    at=iso_time(envelope.at),
                    at_ms=envelope.at,
                    actor=envelope.actor,
                    type=kind,
                    summary=summarize(envelope, names),
                )
            )
        return entries

    return _run(data, work)


def local_verify(data: Path | None, chapter: str) -> VerifyResult:
    """Recompute the chapter's chain from the stored payloads; check its signed heads against
    its book's keys; check a copy against its original's signed root."""
    from engine.copies import verify_chapter
    from engine.verify import book_key_history

    async def work(logs: Logs) -> VerifyResult:
        await _require(logs, chapter)
        first = await logs.chapter(chapter).get(1)
        book = getattr(first.envelope.body, "book", None) if first is not None else None
        # Signatures are checked against the book's keys (none without a book log).
        keys = await book_key_history(logs, book) if isinstance(book, str) else None
        assert logs.blobs is not None  # _logs opens the data directory's blob store
        report = await verify_chapter(logs, logs.blobs, chapter, keys)
        return VerifyResult(
            ok=report.ok,
            events=report.events,
            head=Head(rev=report.head_rev, hash=report.head_hex),
            first_bad_rev=report.first_bad_rev,
            reason=report.reason,
            signed=report.signed,
            signed_rev=report.signed_rev,
            bad_book_rev=report.bad_book_rev,
        )

    return _run(data, work)


def local_replay(
    data: Path | None, chapter: str, *, rev: int | None = None, at: int | None = None
) -> ChapterState:
    """The chapter as it was at `rev` or at unix ms `at`, folded from its verified log, in the
    shape GET …/state answers with (removed sources and every message included)."""
    import msgspec

    from projections.audit import AuditRangeError, chapter_at_rev, chapter_at_time

    async def work(logs: Logs) -> ChapterState:
        await _require(logs, chapter)
        log = logs.chapter(chapter)
        try:
            if rev is not None:
                snapshot = await chapter_at_rev(log, rev)
            else:
                snapshot = await chapter_at_time(log, at or 0)
        except AuditRangeError as exc:
            raise CliError(str(exc), code="out_of_range") from None
        shaped = msgspec.to_builtins(snapshot)
        shaped["hash"] = snapshot.hash.hex()  # to_builtins gives base64; hashes read as hex
        names = {s.id: s.name for s in snapshot.sources}
        for message in shaped["messages"]:
            message["citations"] = [
                {
                    "source": c["source"],
                    "source_name": names.get(c["source"], ""),
                    "chunk": c["chunk"],
                    "span": {k: c.get(k) for k in ("start", "end", "page", "heading")},
                }
                for c in message["citations"]
            ]
        return msgspec.convert(shaped, ChapterState)

    return _run(data, work)
