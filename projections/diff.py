"""What changed in a chapter between two revs: sources added, removed, retagged and edited, the
title, and the messages posted.

Pure: it compares two snapshots of the audit fold (`projections.audit.ChapterSnapshot`, the
chapter after its first A and first B events) and the extracted texts the caller loaded from the
blob store (`texts_to_load` says which). Decisions, so that a reader knows what each list means:

- A source *counts* at a rev unless its status is `removed`. Added: counts at B and not at A
  (a source removed and re-added in between counts at both and shows as edited or retagged if it
  changed). Removed: counts at A and not at B.
- Retagged: counts at both and its tag set differs (old → new).
- Edited: counts at both, has extracted text at both, and the text blobs differ. The diff is a
  unified diff of the two texts by line (difflib), bounded: at most `MAX_DIFF_LINES` lines and
  `MAX_DIFF_CHARS` characters are kept, and `truncated` says so with a note of what was left
  out. Texts over `MAX_TEXT_CHARS` are not compared line by line at all (the note gives sizes):
  a readable diff of two novels helps nobody and costs the server.
- Messages added: messages in B's fold that A's did not have, in log order, each with a snippet;
  at most `MAX_MESSAGES` are listed and `messages_more` counts the rest.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping

import msgspec

from projections.audit import ChapterSnapshot
from projections.fold import SourceView

__all__ = [
    "MAX_DIFF_CHARS",
    "MAX_DIFF_LINES",
    "MAX_MESSAGES",
    "MAX_TEXT_CHARS",
    "ChapterDiff",
    "MessageAdded",
    "Renamed",
    "SourceChange",
    "SourceEdit",
    "SourceRetag",
    "TextDiff",
    "diff_chapter",
    "text_diff",
    "texts_to_load",
]

MAX_DIFF_LINES = 400
"""Lines of one source's text diff kept."""
MAX_DIFF_CHARS = 40_000
"""Characters of one source's text diff kept."""
MAX_TEXT_CHARS = 2_000_000
"""Longer texts are not diffed line by line."""
MAX_MESSAGES = 200
"""Messages listed; the rest are counted."""
_SNIPPET = 120


class SourceChange(msgspec.Struct, frozen=True, kw_only=True):
    """A source added or removed."""

    id: str
    name: str
    tags: list[str]
    rev: int
    """Rev of the source's latest change as of the side it counts on."""


class SourceRetag(msgspec.Struct, frozen=True, kw_only=True):
    """A source whose tags changed."""

    id: str
    name: str
    old: list[str]
    new: list[str]


class TextDiff(msgspec.Struct, frozen=True, kw_only=True):
    """A readable, bounded diff of two texts."""

    unified: str
    """Unified diff lines (`---`/`+++` headers, `@@` hunks), possibly cut short."""
    added_lines: int
    """Lines added in the whole diff (not only the part shown)."""
    removed_lines: int
    """Lines removed in the whole diff."""
    truncated: bool
    note: str | None = None
    """What was left out, when something was."""


class SourceEdit(msgspec.Struct, frozen=True, kw_only=True):
    """A source whose extracted text changed."""

    id: str
    name: str
    old_text: str
    """BLAKE3 hex of the text at the first rev."""
    new_text: str
    """BLAKE3 hex of the text at the second rev."""
    diff: TextDiff


class Renamed(msgspec.Struct, frozen=True, kw_only=True):
    """The chapter's title changed."""

    old: str
    new: str


class MessageAdded(msgspec.Struct, frozen=True, kw_only=True):
    """A message posted in between."""

    id: str
    thread: str
    role: str
    rev: int
    snippet: str


class ChapterDiff(msgspec.Struct, frozen=True, kw_only=True):
    """The changes from rev `from_rev` to rev `to_rev`."""

    chapter: str
    from_rev: int
    to_rev: int
    from_hash: str
    """Hex chain hash at `from_rev`: pins the first state."""
    to_hash: str
    """Hex chain hash at `to_rev`."""
    renamed: Renamed | None
    sources_added: list[SourceChange]
    sources_removed: list[SourceChange]
    sources_retagged: list[SourceRetag]
    sources_edited: list[SourceEdit]
    messages_added: list[MessageAdded]
    messages_more: int
    """Messages added but not listed (past `MAX_MESSAGES`)."""


def _counting(snapshot: ChapterSnapshot) -> dict[str, SourceView]:
    return {s.id: s for s in snapshot.sources if s.status != "removed"}


def _edited_pairs(
    before: ChapterSnapshot, after: ChapterSnapshot
) -> list[tuple[SourceView, SourceView]]:
    old, new = _counting(before), _counting(after)
    return [
        (old[i], s)
        for i, s in new.items()
        if i in old
        and old[i].text_blob is not None
        and s.text_blob is not None
        and old[i].text_blob != s.text_blob
    ]


def texts_to_load(before: ChapterSnapshot, after: ChapterSnapshot) -> set[str]:
    """The text blobs `diff_chapter` needs (those of sources edited in between)."""
    return {b for pair in _edited_pairs(before, after) for s in pair if (b := s.text_blob)}


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SNIPPET else text[: _SNIPPET - 1] + "…"


def text_diff(
    old: str,
    new: str,
    *,
    name: str = "text",
    max_lines: int = MAX_DIFF_LINES,
    max_chars: int = MAX_DIFF_CHARS,
) -> TextDiff:
    """A unified diff of `old` and `new` by line, cut to `max_lines` and `max_chars`."""
    if len(old) > MAX_TEXT_CHARS or len(new) > MAX_TEXT_CHARS:
        return TextDiff(
            unified="", added_lines=0, removed_lines=0, truncated=True,
            note=f"the texts are too long to compare line by line ({len(old)} → {len(new)} "
            "characters); compare the two text blobs themselves",
        )  # fmt: skip
    lines = list(
        difflib.unified_diff(
            old.splitlines(),
            new.splitlines(),
            fromfile=f"a/{name}",
            tofile=f"b/{name}",
            lineterm="",
        )
    )
    body = lines[2:]  # past the file headers
    added = sum(1 for line in body if line.startswith("+"))
    removed = sum(1 for line in body if line.startswith("-"))
    kept: list[str] = []
    size = 0
    for line in lines:
        if len(kept) >= max_lines or size + len(line) + 1 > max_chars:
            break
        kept.append(line)
        size += len(line) + 1
    left = len(lines) - len(kept)
    note = f"{left} more diff lines not shown" if left else None
    return TextDiff(
        unified="\n".join(kept), added_lines=added, removed_lines=removed,
        truncated=bool(left), note=note,
    )  # fmt: skip


def _change(s: SourceView) -> SourceChange:
    return SourceChange(id=s.id, name=s.name, tags=list(s.tags), rev=s.rev)


def diff_chapter(
    before: ChapterSnapshot, after: ChapterSnapshot, texts: Mapping[str, str]
) -> ChapterDiff:
    """The changes from `before` to `after` (the same chapter, `before.rev <= after.rev`).

    `texts` maps the text blobs `texts_to_load` named to their text; a missing one is reported
    in the edit's note instead of diffed.
    """
    if before.chapter != after.chapter or before.rev > after.rev:
        raise ValueError("diff_chapter compares an earlier and a later state of one chapter")
    old, new = _counting(before), _counting(after)
    edited = []
    for was, now in _edited_pairs(before, after):
        assert was.text_blob is not None and now.text_blob is not None
        if was.text_blob in texts and now.text_blob in texts:
            diff = text_diff(texts[was.text_blob], texts[now.text_blob], name=now.name)
        else:
            diff = TextDiff(
                unified="", added_lines=0, removed_lines=0, truncated=True,
                note="a text blob is missing from the blob store",
            )  # fmt: skip
        edit = SourceEdit(
            id=now.id, name=now.name, old_text=was.text_blob, new_text=now.text_blob, diff=diff
        )
        edited.append(edit)
    known = {m.id for m in before.messages}
    posted = [m for m in after.messages if m.id not in known]
    return ChapterDiff(
        chapter=after.chapter,
        from_rev=before.rev,
        to_rev=after.rev,
        from_hash=before.hash.hex(),
        to_hash=after.hash.hex(),
        # At rev 0 there is no title to rename: creation is not a rename.
        renamed=Renamed(old=before.title, new=after.title)
        if before.book is not None and before.title != after.title
        else None,
        sources_added=[_change(s) for i, s in new.items() if i not in old],
        sources_removed=[_change(s) for i, s in old.items() if i not in new],
        sources_retagged=[
            SourceRetag(id=i, name=s.name, old=list(old[i].tags), new=list(s.tags))
            for i, s in new.items()
            if i in old and old[i].tags != s.tags
        ],
        sources_edited=edited,
        messages_added=[
            MessageAdded(id=m.id, thread=m.thread, role=m.role, rev=m.rev, snippet=_snippet(m.text))
            for m in posted[:MAX_MESSAGES]
        ],
        messages_more=max(0, len(posted) - MAX_MESSAGES),
    )
