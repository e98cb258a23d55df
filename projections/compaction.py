"""Compaction of a window of a chapter's log, for proxied shares: fewer events, the same state.

Pure: no I/O (texts come through a reader the caller passes). Given the envelopes of a chapter
after rev A through a watermark W, `compact` gives event bodies that, appended after a mirror
whose fold (projections/fold.py) already holds the in-scope state at A, give the owner's
in-scope state at W. `snapshot` is the same with A = 0.

What "the same state" means: the live sources (every source not `removed`), in the order the
fold lists them, with every field of `SourceView` but `rev` (a mirror's revs are its own), and,
when threads are shared, the threads' titles and their messages. A source that is removed is
gone from what a guest sees, so a mirror need not hold its history.

The rules, per source (the fold's rules decide each field, so keeping the last event that sets
each field, in the owner's order, sets the same fields):

- events before a source's last `SourceAdded` in the window are dropped (an add starts afresh);
- a source added and removed inside the window disappears; a removed source that may have been
  live at A becomes one `SourceRemoved`;
- several edits become one `SourceEdited` from the first base text to the last new text, with a
  new patch (`rust_core.diff`), placed where the last edit was;
- of extractions and rejections, the latest of each is kept (an extraction keeps the newest
  media type the window detected, since the fold keeps an earlier one over an empty one);
- retags collapse to the last, and into the `SourceAdded` when the source was added in the window.

Threads (when in scope): one `ThreadStarted` per thread, where the first was, with the last
title; each message once (a repeated id only where it opens its thread). Everything else (shares, signed heads, syncs, the chapter's identity,
unknown events) is out of any share's scope and dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import msgspec

import rust_core
from events import (
    ContentErased,
    Envelope,
    Event,
    MessagePosted,
    SourceAdded,
    SourceEdited,
    SourceExtracted,
    SourceRejected,
    SourceRemoved,
    SourceRetagged,
    ThreadStarted,
)
from events.scopes import SOURCE_EVENTS

__all__ = [
    "TextReader",
    "compact",
    "snapshot",
    "texts_needed",
]

TextReader = Callable[[str], str]
"""The text (UTF-8 decoded) of a blob, by its BLAKE3 hex."""

SourceEvent = (
    SourceAdded | SourceExtracted | SourceRejected | SourceEdited | SourceRetagged | SourceRemoved
)
"""The events about one source (`events.scopes.SOURCE_EVENTS`), for the type checker."""


def _by_source(window: Iterable[Envelope]) -> dict[str, list[tuple[int, SourceEvent]]]:
    groups: dict[str, list[tuple[int, SourceEvent]]] = {}
    for i, e in enumerate(window):
        if isinstance(e.body, SOURCE_EVENTS):
            body: SourceEvent = e.body  # type: ignore[assignment]
            groups.setdefault(body.source, []).append((i, body))
    return groups


def _segment(events: list[tuple[int, SourceEvent]]) -> list[tuple[int, SourceEvent]]:
    """The source's events from its last `SourceAdded` on (all of them when there is none)."""
    for k in range(len(events) - 1, -1, -1):
        if isinstance(events[k][1], SourceAdded):
            return events[k:]
    return events


def texts_needed(window: Sequence[Envelope]) -> set[str]:
    """The text hashes `compact(window, …)` will ask its reader for (the ends of merged edits)."""
    needed: set[str] = set()
    for events in _by_source(window).values():
        edits = [b for _, b in _segment(events) if isinstance(b, SourceEdited)]
        if len(edits) > 1:
            needed.update((edits[0].base_text, edits[-1].new_text))
    return needed


def _merged_edit(edits: list[SourceEdited], texts: TextReader) -> SourceEdited:
    if len(edits) == 1:
        return edits[0]
    first, last = edits[0], edits[-1]
    patch = rust_core.diff(texts(first.base_text), texts(last.new_text))
    return SourceEdited(
        source=first.source, base_text=first.base_text, patch=patch, new_text=last.new_text
    )


def _compact_source(
    events: list[tuple[int, SourceEvent]], existed: bool, texts: TextReader
) -> list[tuple[int, Event]]:
    """One source's compacted events, each at the window position it stands for."""
    segment = _segment(events)
    added = segment[0] if isinstance(segment[0][1], SourceAdded) else None
    removal = next(((i, b) for i, b in segment if isinstance(b, SourceRemoved)), None)
    if removal is not None:
        # Whatever came after the removal cannot bring the source back (only an add can).
        return [removal] if existed else []
    if added is None and not existed:
        return []  # changes to a source the mirror never had change nothing
    out: list[tuple[int, Event]] = []
    last: dict[type, tuple[int, SourceEvent]] = {}
    edits: list[SourceEdited] = []
    media_type = ""
    for i, body in segment[1:] if added else segment:
        last[type(body)] = (i, body)
        if isinstance(body, SourceEdited):
            edits.append(body)
        elif isinstance(body, SourceExtracted) and body.media_type:
            media_type = body.media_type
    retag = last.pop(SourceRetagged, None)
    if added is not None:
        i, add = added
        if retag is not None:
            add = msgspec.structs.replace(add, tags=list(retag[1].tags))  # type: ignore[type-var]
        out.append((i, add))
    elif retag is not None:
        out.append(retag)
    if (extracted := last.get(SourceExtracted)) is not None:
        i, x = extracted
        if not x.media_type and media_type:  # type: ignore[union-attr]
            x = msgspec.structs.replace(x, media_type=media_type)  # type: ignore[type-var]
        out.append((i, x))
    if (rejected := last.get(SourceRejected)) is not None:
        out.append(rejected)
    if edits:
        out.append((last[SourceEdited][0], _merged_edit(edits, texts)))
    return out


def _compact_threads(window: Sequence[Envelope]) -> list[tuple[int, Event]]:
    out: list[tuple[int, Event]] = []
    started: dict[str, int] = {}  # thread -> index in `out` of its one ThreadStarted
    messages: set[str] = set()
    opened: set[str] = set()
    for i, e in enumerate(window):
        body = e.body
        if isinstance(body, ThreadStarted):
            if body.thread in started:
                out[started[body.thread]] = (out[started[body.thread]][0], body)
            else:
                started[body.thread] = len(out)
                out.append((i, body))
        elif isinstance(body, MessagePosted):
            # A message id seen before still opens its thread if nothing opened it yet.
            if body.message not in messages or body.thread not in opened:
                out.append((i, body))
            messages.add(body.message)
        else:
            continue
        opened.add(body.thread)
    return out


def compact(
    window: Sequence[Envelope],
    *,
    texts: TextReader,
    threads: bool = False,
    existed: Callable[[str], bool] | None = None,
) -> list[Event]:
    """The bodies that bring a mirror at the window's start to the owner's state at its end.

    `window` is the chapter's envelopes after A through W, in log order (events out of scope may
    be among them; they are dropped). `texts` reads the texts at the ends of merged edits (see
    `texts_needed`). `existed(source)` says whether a source may have been live at A; None
    infers it (a source whose first event in the window is not its `SourceAdded` existed).
    Saying True for one that was not only costs a `SourceRemoved` the mirror ignores.
    """
    placed: list[tuple[int, Event]] = []
    for source, events in _by_source(window).items():
        was = existed(source) if existed else not isinstance(events[0][1], SourceAdded)
        placed.extend(_compact_source(events, was, texts))
    if threads:
        placed.extend(_compact_threads(window))
    # Erasures are never compacted away: the mirror must forget what it holds.
    placed.extend((e.rev, e.body) for e in window if isinstance(e.body, ContentErased))
    placed.sort(key=lambda item: item[0])
    return [body for _, body in placed]


def snapshot(
    events: Sequence[Envelope], *, texts: TextReader, threads: bool = False
) -> list[Event]:
    """The bodies that make an empty mirror hold the chapter's in-scope state at its last event."""
    return compact(events, texts=texts, threads=threads, existed=lambda _: False)
