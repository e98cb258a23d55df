"""A chapter's change feed: its events as short changes for people, the stored ones then the live.

The log *is* the change feed. `chapter_changes` reads the chapter's log after rev `after`, each
event checked against the chain, and with `follow` waits for each new event as it is stored
(`Log.follow`). Each becomes a `Change` with the line the history view shows
(`projections.audit.summarize`): an app shows "extracted report.pdf: 14 chunks" the moment
ingest records it, with no polling and no read model in between.

A source's name is fixed when it is added: the feed learns names from the `SourceAdded` events it
passes, and asks the catalogue only for a source added before `after`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import msgspec

from app.readside import ReadSide
from engine.personal import open_envelopes
from events import Envelope, SourceAdded, UnknownEvent
from projections.audit import checked_envelope, source_of, summarize
from projections.catalogue import Catalogue

__all__ = ["Change", "chapter_changes"]


class Change(msgspec.Struct, frozen=True, kw_only=True):
    """One event of a chapter's log, told for people."""

    rev: int
    """Its rev in the chapter's log."""
    type: str
    """The event's type (`SourceAdded`, `SourceExtracted`, …)."""
    actor: str
    """Who recorded it: a user id, `proc:<name>`, `share:<id>`."""
    at: int
    """Unix ms it was recorded."""
    summary: str
    """One line: "added report.pdf", "rejected scan.pdf: no text could be extracted"."""
    source: str | None = None
    """The source it is about, if any."""


class _Names:
    """Source names as the feed meets them, the catalogue asked for the ones it has not."""

    def __init__(self, catalogue: Catalogue, chapter: str) -> None:
        self._catalogue = catalogue
        self._chapter = chapter
        self._names: dict[str, str] = {}

    async def of(self, e: Envelope) -> dict[str, str]:
        if isinstance(e.body, SourceAdded):
            self._names[e.body.source] = e.body.name
        source = source_of(e)
        if source is not None and source not in self._names:
            found = await self._catalogue.source(self._chapter, source)
            if found is not None:  # else shown by id; asked again next time
                self._names[source] = found.name
        return self._names


def _change(e: Envelope, names: dict[str, str]) -> Change:
    kind = e.body.type if isinstance(e.body, UnknownEvent) else type(e.body).__name__
    return Change(
        rev=e.rev,
        type=kind,
        actor=e.actor,
        at=e.at,
        summary=summarize(e, names),
        source=source_of(e),
    )


async def chapter_changes(
    read: ReadSide, chapter: str, after: int = 0, *, follow: bool = True
) -> AsyncIterator[Change]:
    """The chapter's changes after rev `after`, in order; with `follow`, then each new one as it
    is stored, until the caller stops iterating (which stops reading the log at once)."""
    log = read.logs.chapter(chapter)
    names = _Names(read.catalogue, chapter)
    events = log.follow(after) if follow else log.read(after)
    async with contextlib.aclosing(events):
        async for stored in events:
            (e,) = await open_envelopes(log.blobs, [checked_envelope(chapter, stored)])
            yield _change(e, await names.of(e))
