"""Results of the history calls: a diff between two revs, an answer's provenance."""

from __future__ import annotations

import msgspec

from client.models import SearchHit
from events import Span
from events import TokenUsage as Usage

__all__ = [
    "ChapterDiff",
    "DiffMessage",
    "DiffRename",
    "DiffSource",
    "DiffSourceEdit",
    "DiffSourceRetag",
    "Provenance",
    "ProvenancePassage",
    "RetrievalConfig",
    "TextDiff",
]


class _Shape(msgspec.Struct, frozen=True, kw_only=True):
    pass


class DiffSource(_Shape):
    """A source added or removed between the two revs."""

    id: str
    name: str = ""
    tags: list[str] = []
    rev: int = 0


class DiffSourceRetag(_Shape):
    """A source whose tags changed (`old` → `new`)."""

    id: str
    name: str = ""
    old: list[str] = []
    new: list[str] = []


class TextDiff(_Shape):
    """A unified diff of a source's extracted text, bounded (`truncated`, `note`)."""

    unified: str = ""
    added_lines: int = 0
    removed_lines: int = 0
    truncated: bool = False
    note: str | None = None


class DiffSourceEdit(_Shape):
    """A source whose extracted text changed."""

    id: str
    name: str = ""
    old_text: str = ""
    new_text: str = ""
    diff: TextDiff = TextDiff()


class DiffRename(_Shape):
    """The chapter's title before and after."""

    old: str
    new: str


class DiffMessage(_Shape):
    """A message posted between the two revs."""

    id: str
    thread: str = ""
    role: str = ""
    rev: int = 0
    snippet: str = ""


class ChapterDiff(_Shape):
    """What changed from `from_rev` to `to_rev` (GET …/diff, `ragstack diff`)."""

    chapter: str
    from_rev: int
    to_rev: int
    from_hash: str = ""
    to_hash: str = ""
    renamed: DiffRename | None = None
    sources_added: list[DiffSource] = []
    sources_removed: list[DiffSource] = []
    sources_retagged: list[DiffSourceRetag] = []
    sources_edited: list[DiffSourceEdit] = []
    messages_added: list[DiffMessage] = []
    messages_more: int = 0


class RetrievalConfig(_Shape):
    """An answer's recorded retrieval configuration."""

    embedder: str = ""
    index: str = ""
    k: int = 0
    tags: list[str] = []
    passages: str = ""


class ProvenancePassage(_Shape):
    """A cited passage read back from the chapter as of the answer's rev."""

    source: str
    source_name: str = ""
    chunk: str = ""
    span: Span = Span(start=0, end=0)
    text: str = ""
    verified: bool = False
    note: str | None = None


class Provenance(_Shape):
    """Where an answer came from, and its retrieval run again at its rev (`same`)."""

    chapter: str
    thread: str
    message: str
    message_rev: int = 0
    answered_at_rev: int = 0
    hash_at_rev: str = ""
    model: str | None = None
    usage: Usage | None = None
    query: str = ""
    query_recorded: bool = False
    retrieval: RetrievalConfig | None = None
    citations: list[ProvenancePassage] = []
    rerun: list[SearchHit] = []
    same: bool = False
    compared: str = ""
    notes: list[str] = []
