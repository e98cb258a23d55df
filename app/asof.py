"""The chapter as of a rev: search it, and diff two revs.

Both read the chapter's log itself, chain checked (`projections.audit`), for what the log alone
knows (sources, tags, titles, messages at a rev), and the vector index for passages:

- `search_as_of` searches the passages that were searchable at rev N (chunks added at or before
  N and not removed by then: the vectors projection keeps retired chunks with their revs, so
  nothing is re-embedded). Tags are applied as they stood at N: the sources carrying one of them
  in the fold of the first N events. The caller makes sure the index has folded N.
- `chapter_diff` folds the log once through B, taking the snapshot at A on the way, loads the
  texts of sources edited in between and lets `projections.diff` compare.

A rev below 0, past the head, or a diff whose first rev is after its second is `RevOutOfRange`
(HTTP 400), with a message saying what the chapter has.
"""

from __future__ import annotations

from collections.abc import Sequence

from app.readside import ReadSide
from engine.errors import BlobNotFound
from engine.log import Log
from engine.rules import Invalid
from projections.audit import ChapterFold, ChapterSnapshot, read_envelopes
from projections.diff import ChapterDiff, diff_chapter, texts_to_load
from projections.vectors import SearchHit, SearchMode

__all__ = ["RevOutOfRange", "chapter_diff", "check_rev", "search_as_of", "snapshots_at"]


class RevOutOfRange(Invalid):
    """A rev the chapter does not have (yet), or a range the wrong way round (HTTP 400)."""

    code = "rev_out_of_range"


async def check_rev(log: Log, rev: int, what: str = "rev") -> int:
    """The head's rev, once `rev` is known to be within 0..head; else `RevOutOfRange`."""
    head = (await log.head()).rev
    if rev < 0:
        raise RevOutOfRange(f"{what} {rev} is not a rev: revs start at 0 (before any event)")
    if rev > head:
        raise RevOutOfRange(f"the chapter has {head} events; {what} {rev} is past its head")
    return head


async def snapshots_at(log: Log, revs: Sequence[int]) -> dict[int, ChapterSnapshot]:
    """The chapter at each of `revs` (each within the log), from one pass over the log."""
    wanted = sorted(set(revs))
    state = ChapterFold(log.id)
    found = {0: state.snapshot()} if 0 in wanted else {}
    last = wanted[-1] if wanted else 0
    if last > 0:
        async for event, e in read_envelopes(log, 0, last):
            state.apply(e, event.hash)
            if e.rev in wanted:
                found[e.rev] = state.snapshot()
    return found


async def search_as_of(
    read: ReadSide,
    chapter: str,
    query: str,
    *,
    rev: int,
    k: int,
    tags: Sequence[str] | None = None,
    mode: SearchMode = "vector",
) -> list[SearchHit]:
    """The `k` passages best matching `query` in the chapter as it was at `rev`, by `mode`.

    `tags` keeps sources that carried one of them at `rev`. The index must have folded `rev`
    (callers settle "vectors" first).
    """
    log = read.logs.chapter(chapter)
    await check_rev(log, rev)
    sources: set[str] | None = None
    if tags:
        wanted = set(tags)
        snapshot = await read.snapshots.at(log, rev)
        sources = {s.id for s in snapshot.sources if s.status != "removed" and wanted & set(s.tags)}
    found = await read.vectors.retrieve_at(chapter, query, rev=rev, k=k, sources=sources, mode=mode)
    return found.hits


async def chapter_diff(read: ReadSide, chapter: str, from_rev: int, to_rev: int) -> ChapterDiff:
    """What changed from rev `from_rev` to rev `to_rev` (0 <= from_rev <= to_rev <= head)."""
    log = read.logs.chapter(chapter)
    await check_rev(log, to_rev, "to")
    await check_rev(log, from_rev, "from")
    if from_rev > to_rev:
        raise RevOutOfRange(
            f"from {from_rev} is after to {to_rev}: a diff goes from an earlier rev to a later one"
        )
    # Each from the nearest fold checkpoint: two short folds, not one from rev 1.
    before = await read.snapshots.at(log, from_rev)
    after = await read.snapshots.at(log, to_rev)
    texts: dict[str, str] = {}
    for blob in sorted(texts_to_load(before, after)):
        try:
            texts[blob] = (await read.blobs.get(blob)).decode()
        except BlobNotFound:
            continue  # reported in the edit's note
    return diff_chapter(before, after, texts)
