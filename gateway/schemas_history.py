"""Public shapes of the history routes (gateway/routes/history.py): diffs and provenance."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from gateway.schemas import SpanPublic, UsagePublic
from gateway.schemas_sources import HitPublic

__all__ = [
    "DiffPublic",
    "MessageAddedPublic",
    "PassagePublic",
    "ProvenancePublic",
    "RenamedPublic",
    "RetrievalPublic",
    "SourceChangePublic",
    "SourceEditPublic",
    "SourceRetagPublic",
    "TextDiffPublic",
]


class _Public(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)


class SourceChangePublic(_Public):
    """A source added or removed between the two revs."""

    id: str
    name: str
    tags: list[str]
    rev: int
    """Rev of the source's latest change, on the side where it counts."""


class SourceRetagPublic(_Public):
    """A source whose tags changed."""

    id: str
    name: str
    old: list[str]
    new: list[str]


class TextDiffPublic(_Public):
    """A readable unified diff of a source's extracted text, bounded."""

    unified: str
    added_lines: int
    removed_lines: int
    truncated: bool
    """Whether lines were left out (see `note`)."""
    note: str | None = None


class SourceEditPublic(_Public):
    """A source whose extracted text changed."""

    id: str
    name: str
    old_text: str
    """BLAKE3 hex of the text at `from`."""
    new_text: str
    """BLAKE3 hex of the text at `to`."""
    diff: TextDiffPublic


class RenamedPublic(_Public):
    """The chapter's title, before and after."""

    old: str
    new: str


class MessageAddedPublic(_Public):
    """A message posted between the two revs."""

    id: str
    thread: str
    role: str
    rev: int
    snippet: str


class DiffPublic(_Public):
    """What changed in a chapter from rev `from_rev` to rev `to_rev`."""

    chapter: str
    from_rev: int
    to_rev: int
    from_hash: str
    """Hex chain hash at `from_rev`."""
    to_hash: str
    """Hex chain hash at `to_rev`."""
    renamed: RenamedPublic | None
    sources_added: list[SourceChangePublic]
    sources_removed: list[SourceChangePublic]
    sources_retagged: list[SourceRetagPublic]
    sources_edited: list[SourceEditPublic]
    messages_added: list[MessageAddedPublic]
    messages_more: int
    """Messages added but not listed."""


class RetrievalPublic(_Public):
    """An answer's recorded retrieval configuration (`events.Retrieval`)."""

    embedder: str
    index: str
    k: int
    tags: list[str]
    passages: str
    """BLAKE3 hex of the retrieved passages in rank order."""


class PassagePublic(_Public):
    """A cited passage, read back from the chapter as of the answer's rev."""

    source: str
    source_name: str
    chunk: str
    span: SpanPublic
    text: str
    verified: bool
    """Whether the text's BLAKE3 is the chunk hash cited."""
    note: str | None = None


class ProvenancePublic(_Public):
    """Where an answer came from, and the same retrieval run again at its rev."""

    chapter: str
    thread: str
    message: str
    message_rev: int
    answered_at_rev: int
    hash_at_rev: str
    """Hex chain hash at `answered_at_rev`."""
    model: str | None
    usage: UsagePublic | None
    query: str
    query_recorded: bool
    retrieval: RetrievalPublic | None
    citations: list[PassagePublic]
    rerun: list[HitPublic]
    same: bool
    """Whether the re-run retrieved the same passages (see `compared`)."""
    compared: Literal["passages", "citations"]
    notes: list[str]
