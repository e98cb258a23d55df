"""Public shapes of the audit routes (gateway/routes/audit.py)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway.schemas import MessageCitationPublic, SpanPublic, UsagePublic
from gateway.schemas_chat import MessagePublic, ThreadPublic

__all__ = [
    "CitationPublic",
    "ConsistencyPublic",
    "EventPage",
    "EventPublic",
    "HeadPublic",
    "HistoryEntry",
    "HistoryPage",
    "MessagePublic",
    "ProofPublic",
    "SharePublic",
    "SourcePublic",
    "SpanPublic",
    "StatePublic",
    "ThreadPublic",
    "UsagePublic",
    "VerifyPublic",
]


class _Public(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)


class HeadPublic(_Public):
    """A log's head: its last rev and the chain hash there."""

    rev: int
    """Last revision (0 for an empty log)."""
    hash: str
    """h[rev] in hex (64 zeros for an empty log)."""


class EventPublic(_Public):
    """One stored event."""

    rev: int
    hash: str
    """Its chain hash h[rev], hex."""
    payload: str
    """Base64 of the exact stored bytes (the MessagePack envelope): what the chain hashes."""
    event: dict[str, Any]
    """The decoded body: `type` and its fields (bytes fields in base64)."""
    id: str
    """Event id."""
    at: int
    """Unix ms when it was written."""
    actor: str
    """User id, or `proc:<name>` for a processor."""


class EventPage(_Public):
    """A page of a chapter's events, in log order."""

    events: list[EventPublic]
    head: HeadPublic
    """The head when the page was read (no event in the page is past it)."""
    next_after: int | None = None
    """Pass as `after` for the next page; null when the page reaches the head."""


CitationPublic = MessageCitationPublic
"""A passage an answer cited (the shape the chat routes give a recorded answer's citations).

A message and a thread as they stood (`MessagePublic`, `ThreadPublic`) also have the shapes the
chat routes give them."""


class SourcePublic(_Public):
    """A source as it stood: `{id, name, media_type, size, status, reason, tags, rev}` and details."""

    id: str
    name: str
    media_type: str
    size: int
    status: str
    """pending, extracted, rejected or removed."""
    reason: str | None
    tags: list[str]
    rev: int
    """Rev of the source's latest change up to the state's rev."""
    origin: str
    url: str | None
    blob: str
    """BLAKE3 hex of the original bytes."""
    text_blob: str | None
    """BLAKE3 hex of the extracted text, once extracted."""
    extractor: str | None
    chunks: int
    code: str | None
    """Rejection code, when rejected."""


class SharePublic(_Public):
    """A share in force at the state's rev."""

    id: str
    mode: str
    grantee: str
    permissions: list[str]
    interval_s: int | None
    scope: list[str]
    rev: int
    """Rev of the grant."""
    actor: str


class StatePublic(_Public):
    """The chapter as the fold of its first `rev` events shows it."""

    chapter: str
    rev: int
    """The last event folded (0: the chapter had no events yet)."""
    hash: str
    """h[rev], hex: pins exactly this prefix of the log."""
    at: int | None
    """Unix ms of event `rev`."""
    book: str | None
    title: str
    forked_from: str | None
    sources: list[SourcePublic]
    """In the order added; removed ones only with `include_removed=true`."""
    threads: list[ThreadPublic]
    messages: list[MessagePublic] | None = None
    """Every message in log order with `messages=true`, else null."""
    shares: list[SharePublic]


class VerifyPublic(_Public):
    """The chain recomputed from the stored payloads, compared with the stored hashes."""

    ok: bool
    events: int
    """How many events verified, from rev 1 on."""
    head: HeadPublic
    """The last rev that verified and its hash (the log's head when ok)."""
    first_bad_rev: int | None = None
    reason: str | None = None
    signed: int = 0
    """Signed heads that verified."""
    signed_rev: int | None = None
    """The latest rev a verified signature covers."""
    bad_book_rev: int | None = None
    """The book rev where the book's key history breaks (a rotation the old key did not sign)."""


class ProofPublic(_Public):
    """Event `rev` is leaf `index` (= rev - 1) of the Merkle tree over h[1..size].

    Check it with `rust_core.merkle_verify(root, leaf, index, size, proof)` (values hex-decoded).
    Tree shape RFC 6962 with BLAKE3: leaf = H(0x00 || h[n]), node = H(0x01 || left || right).
    """

    rev: int
    size: int
    index: int
    """rev - 1: the leaf's position."""
    leaf: str
    """h[rev], hex: the leaf's data."""
    root: str
    """Root over h[1..size], hex."""
    proof: list[str]
    """Sibling hashes from the leaf upwards, hex."""
    served_from: Literal["tree", "log"] = "log"
    """Where the proof came from: the stored tree, or the log (the tree was behind)."""


class ConsistencyPublic(_Public):
    """The tree over h[1..from] is a prefix of the tree over h[1..to] (RFC 9162 §2.1.4).

    Check it with `rust_core.merkle_consistency_verify(old_root, new_root, from, to, proof)`
    (hex-decoded), against an `old_root` you already trust rather than the one sent here.
    """

    model_config = ConfigDict(use_attribute_docstrings=True, populate_by_name=True)

    from_: int = Field(alias="from")
    """The older size."""
    to: int
    """The newer size."""
    old_root: str
    """Root over h[1..from], hex."""
    new_root: str
    """Root over h[1..to], hex."""
    proof: list[str]
    """The consistency path, hex (empty when from == to)."""
    served_from: Literal["tree", "log"] = "log"
    """Where the proof came from: the stored tree, or the log (the tree was behind)."""


class HistoryEntry(_Public):
    """One event, told for people."""

    rev: int
    id: str
    at: str | None
    """ISO 8601 UTC (null for a stamp no calendar can show)."""
    at_ms: int
    actor: str
    type: str
    summary: str
    """E.g. "added report.pdf", "extracted report.pdf: 14 chunks", "asked: …"."""


class HistoryPage(_Public):
    """A page of a chapter's history, in log order."""

    history: list[HistoryEntry]
    head: HeadPublic
    next_after: int | None = None
    """Pass as `after` for the next page; null when the page reaches the head."""
