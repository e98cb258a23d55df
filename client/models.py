"""The SDK's typed results: one msgspec Struct per shape the HTTP API answers with.

Decoding ignores keys a Struct does not name, so a newer server that adds keys never breaks an
older client; fields a server may leave out have defaults. The keys docs/architecture.md promises to
scripts (a source, a search hit, an answer) are spelled exactly as there. A passage's `Span` and
an answer's `Usage` are the log's own `events.Span` and `events.TokenUsage`.

It is one module (about 425 lines) of plain shapes, one per answer of the API; share and history
shapes live in models_shares.py and models_history.py.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import msgspec

from events import Envelope, RecordedEvent, SourceMeta, Span, decode
from events import TokenUsage as Usage
from events.keys import BookKey
from rust_core import merkle_verify

__all__ = [
    "Answer",
    "Book",
    "BookKeys",
    "Chapter",
    "ChapterState",
    "Citation",
    "EventPage",
    "Head",
    "HistoryEntry",
    "HistoryPage",
    "LLMSettings",
    "LogEvent",
    "Member",
    "Message",
    "Proof",
    "RerankSettings",
    "SearchHit",
    "ServerInfo",
    "Session",
    "Share",
    "Source",
    "Span",
    "Thread",
    "Token",
    "Usage",
    "User",
    "VerifyResult",
    "iso_time",
]


class _Shape(msgspec.Struct, frozen=True, kw_only=True):
    pass


def iso_time(ms: int) -> str | None:
    """Unix ms as ISO 8601 UTC with milliseconds, the way the API writes times."""
    try:
        moment = dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class User(_Shape):
    """A user as the API shows them."""

    id: str
    email: str
    name: str = ""
    created_at: int = 0
    """Unix ms of sign-up."""


class Session(_Shape):
    """A signed-in user and a fresh API token (sign-up and login)."""

    user: User
    token: str
    token_id: str = ""
    expires_at: int | None = None
    """Unix ms after which the token is refused; None never expires."""


class Token(_Shape):
    """An API token's public facts; `token` is set only in the answer that creates it."""

    id: str
    name: str = ""
    created_at: int = 0
    expires_at: int | None = None
    last_used_at: int | None = None
    current: bool = False
    token: str | None = None


class ServerInfo(_Shape):
    """GET /v1/info."""

    name: str = "ragstack"
    version: str = ""
    features: list[str] = []
    limits: dict[str, int] = {}


class Member(_Shape):
    """A member of a book, or an invitation nobody has claimed yet."""

    user: str = ""
    """User id; `email:<address>` while the invitation is pending."""
    email: str = ""
    role: str = "member"
    """owner, admin or member."""
    pending: bool = False
    """True for an invitation nobody has claimed yet."""
    invited: bool = False
    """In the answer to an invitation: no account had this address yet."""


class Chapter(_Shape):
    """A chapter of a book."""

    id: str
    title: str = ""
    book: str = ""
    assignee: str = ""
    """The member the chapter is assigned to."""
    rev: int | None = None
    """The chapter log's head revision (single-chapter answers)."""
    sources: int | None = None
    """How many sources it holds (single-chapter answers)."""
    forked_from: str | None = None
    """The chapter this one was copied from, if it is a copy."""
    share: str | None = None
    """For a chapter someone shared with its book (a copy or a live mirror): the share."""


class Book(_Shape):
    """A book (an organisation)."""

    id: str
    name: str = ""
    owner: str = ""
    role: str | None = None
    """The caller's role in it."""
    external_sharing: bool = True
    chapters: int = 0
    """How many chapters the caller sees."""
    members: int = 0
    """How many members the book has, pending invitations included."""


class LLMSettings(_Shape):
    """What answers a book's questions (GET/PUT/DELETE /v1/books/{book}/llm); never the key."""

    source: str = "none"
    """book (its own settings), server (the server's default) or none (extractive answers)."""
    kind: str = ""
    """openai, gemini, ollama, anthropic or extractive."""
    model: str = ""
    base_url: str | None = None
    has_api_key: bool = False


class RerankSettings(_Shape):
    """Which rerank service reorders a book's passages (GET/PUT/DELETE
    /v1/books/{book}/rerank); never the key."""

    source: str = "none"
    """book (its own settings, kind none included), server (the server's) or none."""
    kind: str = "none"
    """cohere, jina or none."""
    model: str = ""
    base_url: str | None = None
    depth: int = 30
    """Passages retrieved for the service to reorder."""
    has_api_key: bool = False


class Source(_Shape):
    """A source: `{id, name, media_type, size, status, reason, tags, rev}`."""

    id: str
    name: str = ""
    media_type: str = ""
    size: int = 0
    status: str = "pending"
    """pending, extracted, rejected or removed."""
    reason: str | None = None
    """Why it was rejected, for a person."""
    tags: list[str] = []
    rev: int = 0
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
    """The connector that brought it in (origin is then its kind, e.g. zotero)."""
    ref: str | None = None
    """Its reference in the connector's library (a Zotero item key)."""
    meta: SourceMeta | None = None
    """Title, authors, year and DOI, for a source from a reference library."""


class SearchHit(_Shape):
    """A passage found by search: `{source, source_name, span, text, score}`."""

    source: str
    source_name: str = ""
    span: Span = Span(start=0, end=0)
    text: str = ""
    score: float = 0.0
    chunk: str = ""
    cite: str = ""
    """How answers name the passage's work, "Author (Year)", for a source with metadata."""


class Citation(_Shape):
    """A passage an answer cites: `{source, source_name, chunk, span, text}`."""

    source: str
    source_name: str = ""
    chunk: str = ""
    span: Span = Span(start=0, end=0)
    text: str = ""


class Answer(_Shape):
    """An answer: `{id, text, citations, rev, model}` (and its thread, question, usage)."""

    id: str = ""
    """The answer's message id."""
    text: str = ""
    citations: list[Citation] = []
    rev: int | None = None
    """The chapter revision the answer's retrieval saw."""
    model: str | None = None
    """Provider and model, e.g. `openai:gpt-4o-mini`, or `extractive`."""
    thread: str | None = None
    question: str | None = None
    """The id of the question's message."""
    message_rev: int | None = None
    """The revision of the answer's own event."""
    usage: Usage | None = None
    query: str = ""
    """The standalone query its retrieval searched (a follow-up rewritten with the thread)."""


class Thread(_Shape):
    """A chat thread."""

    id: str
    title: str = ""
    actor: str = ""
    """Who started it."""
    created_rev: int | None = None
    created_at: int | None = None
    """Unix ms."""
    message_count: int = 0
    last_at: int | None = None
    """Unix ms of the latest message."""


class Message(_Shape):
    """A question or an answer in a thread."""

    id: str
    thread: str = ""
    role: str = ""
    """user or assistant."""
    text: str = ""
    citations: list[Citation] = []
    rev: int | None = None
    answered_at_rev: int | None = None
    model: str | None = None
    usage: Usage | None = None
    actor: str = ""
    at: int | None = None
    """Unix ms."""


class Head(_Shape):
    """A log's head: its last revision and the chain hash there."""

    rev: int = 0
    """Last revision (0 for an empty log)."""
    hash: str = ""
    """h[rev] in hex (64 zeros for an empty log)."""


class LogEvent(_Shape):
    """One event of a chapter log as GET …/events serves it, exactly as stored."""

    rev: int
    hash: str
    """Hex chain hash h[rev]."""
    payload: str
    """Base64 of the stored bytes (what the chain hashes)."""
    event: dict[str, Any] = {}
    """The server's decoding of the body, for reading; trust `payload`, not this."""
    id: str = ""
    at: int = 0
    """Unix ms when it was written."""
    actor: str = ""

    def recorded(self) -> RecordedEvent:
        """The event as stored, for verifying the chain here."""
        return RecordedEvent(
            rev=self.rev, hash=bytes.fromhex(self.hash), payload=base64.b64decode(self.payload)
        )

    def envelope(self) -> Envelope:
        """The payload decoded here (not by the server)."""
        return decode(base64.b64decode(self.payload))


class EventPage(_Shape):
    """A page of a chapter's events (GET …/events)."""

    events: list[LogEvent] = []
    head: Head = Head()
    """The head when the page was read."""
    next_after: int | None = None
    """`after` for the next page; None when the page reaches the head."""


class VerifyResult(_Shape):
    """A chain verification: GET …/verify's shape, whoever computed it."""

    ok: bool
    events: int = 0
    """Events that verified, in order from rev 1."""
    head: Head = Head()
    """The last rev that verified and its hash: what can be trusted."""
    first_bad_rev: int | None = None
    reason: str | None = None
    signed: int = 0
    """Signed heads that verified."""
    signed_rev: int | None = None
    """The latest rev a verified signature covers."""
    bad_book_rev: int | None = None
    """Where the book's key history breaks (a rotation the old key did not sign)."""


class BookKeys(_Shape):
    """A book's signing keys (GET /v1/books/{book}/keys); re-check them with
    `events.keys.KeyHistory.of_keys(book, keys)` rather than trusting `ok`."""

    book: str
    current: str | None = None
    keys: list[BookKey] = []
    ok: bool = True
    bad_book_rev: int | None = None
    reason: str | None = None


class HistoryEntry(_Shape):
    """One event of a chapter, told for people: when, who, what kind, what happened."""

    rev: int
    id: str = ""
    """Event id."""
    at: str | None = None
    """ISO 8601 UTC."""
    at_ms: int = 0
    """Unix ms the event was written."""
    actor: str = ""
    """User id, or `proc:<name>` for a processor."""
    type: str = ""
    """The event type, e.g. `SourceAdded`."""
    summary: str = ""
    """A short line: "added report.pdf", "extracted report.pdf: 14 chunks", "asked: …"."""


class HistoryPage(_Shape):
    """A page of a chapter's history (GET …/history)."""

    history: list[HistoryEntry] = []
    head: Head = Head()
    next_after: int | None = None


class Share(_Shape):
    """A share in force (a chapter's state, or `GET …/shares`); never its token."""

    id: str
    mode: str = ""
    """copy, proxied or direct."""
    grantee: str = ""
    permissions: list[str] = []
    interval_s: int | None = None
    scope: list[str] = []
    rev: int = 0
    """Rev of the grant (in a chapter's state)."""
    actor: str = ""
    chapter: str = ""
    granted_rev: int = 0
    """Rev of the grant (in `GET …/shares`)."""
    expires_at: int | None = None
    """Unix ms after which it opens nothing; None: until revoked."""


class ChapterState(_Shape):
    """The chapter as the fold of its first `rev` events shows it (GET …/state, `replay`)."""

    chapter: str
    rev: int
    """The last event folded (0: the chapter had no events yet)."""
    hash: str = ""
    """h[rev], hex: pins exactly this prefix of the log."""
    at: int | None = None
    """Unix ms of event `rev`."""
    book: str | None = None
    title: str = ""
    forked_from: str | None = None
    sources: list[Source] = []
    threads: list[Thread] = []
    messages: list[Message] | None = None
    """Every message in log order, when asked for."""
    shares: list[Share] = []


class Proof(_Shape):
    """A Merkle inclusion proof: event `rev` is leaf `rev - 1` of the tree over h[1..size]."""

    rev: int
    size: int
    index: int = 0
    leaf: str = ""
    """h[rev], hex."""
    root: str = ""
    """Root over h[1..size], hex."""
    proof: list[str] = []
    """Sibling hashes from the leaf upwards, hex."""
    served_from: str = ""
    """`tree` (the stored tree) or `log` (the tree was behind)."""

    def verify(self, root: str | None = None) -> bool:
        """Check the proof here (against `root` when you hold one, else the proof's own)."""
        return merkle_verify(
            bytes.fromhex(root or self.root),
            bytes.fromhex(self.leaf),
            self.rev - 1,
            self.size,
            [bytes.fromhex(p) for p in self.proof],
        )
