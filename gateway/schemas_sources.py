"""Public shapes of sources and search (gateway/routes/sources.py).

Requests forbid unknown fields, so a misspelt key is a 422 rather than a silently ignored wish.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from engine.sources import MAX_TAG_CHARS, MAX_TAGS
from engine.webpages import MAX_URL_CHARS
from gateway.schemas import SpanPublic, WholeFloatsAsInt
from projections.formats import Limits as ExtractLimits

__all__ = [
    "MAX_QUERY_CHARS",
    "HitPublic",
    "MetaPublic",
    "SearchRequest",
    "SearchResults",
    "SourceList",
    "SourcePublic",
    "SourceUpdate",
    "SourcesAdded",
    "SpanPublic",
    "Status",
    "WebPageCreate",
]

MAX_QUERY_CHARS = 2000
"""Longest search query."""

Status = Literal["pending", "extracted", "rejected", "removed"]
_Tag = Annotated[str, Field(min_length=1, max_length=MAX_TAG_CHARS)]
_Tags = Annotated[list[_Tag], Field(max_length=MAX_TAGS)]


class _Model(BaseModel):
    # strict: a JSON value of the wrong type is refused, never coerced (the document's types hold)
    model_config = ConfigDict(use_attribute_docstrings=True, extra="forbid", strict=True)


class MetaPublic(BaseModel):
    """Bibliographic metadata of a source from a reference library (Zotero)."""

    model_config = ConfigDict(use_attribute_docstrings=True, from_attributes=True)

    title: str = ""
    """The work's title."""
    authors: list[str] = []
    """Creators in order, "Last, First"."""
    year: int | None = None
    """Year of publication."""
    doi: str | None = None
    """DOI, bare."""


class SourcePublic(BaseModel):
    """A source: `{id, name, media_type, size, status, reason, tags, rev}` and some details."""

    model_config = ConfigDict(use_attribute_docstrings=True, from_attributes=True)

    id: str
    """The source's id."""
    name: str
    """File name or page title."""
    media_type: str
    """As declared at upload; once extracted, the type detected from the bytes."""
    size: int
    """Bytes of the original."""
    status: Status
    """pending (being extracted), extracted, rejected (see `reason`) or removed."""
    reason: str | None = None
    """Why it was rejected, for a person."""
    tags: list[str]
    """Its tags, sorted."""
    rev: int
    """Revision of the source's latest change in the chapter log."""
    origin: str = "upload"
    """Where it came from: upload, url, …"""
    url: str | None = None
    """For a web page: the address it was fetched from."""
    chunks: int = 0
    """Passages it was cut into for search."""
    code: str | None = None
    """Why it was rejected, as a code: empty, unsupported, corrupt, encrypted, too_large, …"""
    connector: str | None = None
    """The connector that brought it in (origin is then the connector's kind, e.g. zotero)."""
    ref: str | None = None
    """Its stable reference in the connector's library (a Zotero item key)."""
    meta: MetaPublic | None = None
    """Title, authors, year and DOI, for a source from a reference library."""


class SourceList(BaseModel):
    """A chapter's sources, in the order they were added."""

    sources: list[SourcePublic]


class SourcesAdded(BaseModel):
    """The sources a request added."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    sources: list[SourcePublic]
    rev: int
    """Revision of the last of them in the chapter log."""


class WebPageCreate(_Model):
    """A web page to add: the server fetches it, with its images."""

    url: Annotated[str, Field(min_length=1, max_length=MAX_URL_CHARS)]
    """An http(s) address of an HTML page."""
    tags: _Tags = []
    """Tags for the new source."""


class SourceUpdate(_Model):
    """Changes to a source: its tags, its extracted text, or both."""

    tags: _Tags | None = None
    """The new tag set (replaces the old one)."""
    text: Annotated[str, Field(max_length=ExtractLimits().max_text_chars)] | None = None
    """The corrected text (only for an extracted source); ingest re-cuts it into passages."""
    rev: Annotated[int | None, Field(ge=0, le=2**63 - 1)] = None
    """The source's `rev` this change is based on (as read): if the source changed since, 409
    `source_changed` and nothing changes. Null: no check (the change wins)."""


class SearchRequest(_Model):
    """A search of a chapter's passages."""

    query: Annotated[str, Field(min_length=1, max_length=MAX_QUERY_CHARS)]
    """What to look for, in plain words."""
    k: Annotated[int, Field(ge=1, le=50), WholeFloatsAsInt] = 8
    """How many passages to return."""
    tags: _Tags | None = None
    """Only passages of sources with at least one of these tags."""
    rev: Annotated[int | None, Field(ge=0, le=2**63 - 1)] = None
    """Search the chapter as it was at this rev (its tags as of then); null: as it is now."""


class HitPublic(BaseModel):
    """A passage found: `{source, source_name, span, text, score}` and its chunk hash."""

    model_config = ConfigDict(use_attribute_docstrings=True, from_attributes=True)

    source: str
    """The source's id."""
    source_name: str
    """The source's name."""
    span: SpanPublic
    text: str
    """The passage."""
    score: float
    """Similarity to the query (higher is closer)."""
    chunk: str
    """The passage's hash (what answers cite)."""
    cite: str = ""
    """How answers name the passage's work, "Author (Year)", when its source has metadata."""


class SearchResults(BaseModel):
    """The passages nearest to a query, best first."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    hits: list[HitPublic]
    rev: int
    """The chapter revision the index had folded when the search ran."""
