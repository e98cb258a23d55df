"""Events of a chapter log (stream `RS_CH_<chapter>`).

Schema rules: a tag is written out on each class and never renamed, a field is never removed or
re-purposed, a new field always has a default. Hashes are lower-case hex BLAKE3 digests of blob-store content.
"""

from typing import Literal

import msgspec

ShareMode = Literal["copy", "proxied", "direct"]
Permission = Literal["add", "remove", "edit", "prompt_passthrough"]


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """Base of every event body. Each event names its tag on the wire explicitly (`tag="…"`,
    its class name when it was introduced), so renaming a class can never change the log's
    format; a tag is permanent."""


class Span(msgspec.Struct, frozen=True, kw_only=True):
    """Where a passage sits in its source's extracted text.

    Not itself a field of any event (`ChunkRef` and `Citation` carry these fields flat, and
    `Citation.span` gathers them): it is the one shape search hits, answers and clients share.
    """

    start: int
    """Offset of the first character in the extracted text (code points)."""
    end: int
    """Offset one past the last character (code points)."""
    page: int | None = None
    """1-based page the passage starts on, where the format has pages."""
    heading: str | None = None
    """The nearest heading above the passage, where the format has headings."""


class ChunkRef(msgspec.Struct, frozen=True, kw_only=True):
    """One retrievable span of a source's extracted text."""

    hash: str
    """BLAKE3 hex of the chunk's text (UTF-8): the chunk's identity."""
    start: int
    """Offset of the first character in the extracted text (code points)."""
    end: int
    """Offset one past the last character (code points)."""
    page: int | None = None
    """1-based page the chunk starts on, where the format has pages."""
    heading: str | None = None
    """The nearest heading above the chunk, where the format has headings."""


class Citation(msgspec.Struct, frozen=True, kw_only=True):
    """A passage an answer relied on."""

    source: str
    """Source id."""
    chunk: str
    """Chunk hash (see `ChunkRef.hash`)."""
    start: int
    """Span start in the source's extracted text."""
    end: int
    """Span end in the source's extracted text."""
    page: int | None = None
    """Page, where known."""
    heading: str | None = None
    """Heading, where known."""

    @property
    def span(self) -> Span:
        """Where the cited passage sits."""
        return Span(start=self.start, end=self.end, page=self.page, heading=self.heading)


class TokenUsage(msgspec.Struct, frozen=True, kw_only=True):
    """What an answer cost in tokens, as the provider reported it."""

    prompt: int = 0
    """Tokens sent."""
    completion: int = 0
    """Tokens received."""


class Retrieval(msgspec.Struct, frozen=True, kw_only=True):
    """How an answer's passages were retrieved: enough to run the same retrieval again."""

    embedder: str
    """The embedding model's id (the embedding cache's key), e.g. `ollama:nomic-embed-text`."""
    index: str
    """The vector index backend, e.g. `chroma-embedded`, `pinecone`."""
    k: int
    """How many passages were asked for."""
    tags: list[str] = []
    """Only passages of sources carrying one of these tags (at the answered rev); [] for all."""
    passages: str = ""
    """BLAKE3 hex of the passages retrieved, `<source>:<chunk>` one per line in rank order."""
    mode: str = "vector"
    """The search mode: `vector`, `lexical` or `hybrid` (answers before it was recorded:
    `vector`, the only one there was)."""


class ChapterCreated(Event, frozen=True, kw_only=True, tag="ChapterCreated"):
    """The chapter exists; always rev 1 of a new (not forked) chapter."""

    book: str
    """The book the chapter belongs to."""
    title: str
    """Human title."""
    sealed: str | None = None
    """BLAKE3 hex of this event's personal blob (events/personal.py): its personal fields were
    moved there and hold their empty defaults here. None: written before sealing, or nothing
    personal."""


class ChapterRenamed(Event, frozen=True, kw_only=True, tag="ChapterRenamed"):
    """The chapter's title changed."""

    title: str
    """New title."""
    sealed: str | None = None
    """BLAKE3 hex of this event's personal blob (events/personal.py): its personal fields were
    moved there and hold their empty defaults here. None: written before sealing, or nothing
    personal."""


class ChapterForked(Event, frozen=True, kw_only=True, tag="ChapterForked"):
    """Rev 1 of a copy: the chapter starts as a snapshot of another."""

    book: str
    """The book the copy belongs to."""
    title: str
    """Title of the copy."""
    from_chapter: str
    """The original chapter."""
    from_rev: int
    """The original's rev the snapshot was taken at."""
    from_head: str
    """Hex chain hash of the original at `from_rev`."""
    share: str | None = None
    """The share this copy was accepted from (None for a fork made by the owner)."""
    from_root: str | None = None
    """Hex Merkle root over the original's chain hashes h[1..from_rev] (RFC 9162 tree)."""
    manifest: str | None = None
    """BLAKE3 hex of the copy manifest in the blob store: what ties each copied event to the
    original (its original bytes and the original's chain hashes); see engine/copies.py."""
    sealed: str | None = None
    """BLAKE3 hex of this event's personal blob (events/personal.py): its personal fields were
    moved there and hold their empty defaults here. None: written before sealing, or nothing
    personal."""


class ChapterMirrored(Event, frozen=True, kw_only=True, tag="ChapterMirrored"):
    """Rev 1 of a live mirror: the chapter follows a chapter shared live with its book."""

    book: str
    """The guest's book the mirror belongs to."""
    title: str
    """Title of the mirror (the original's title when accepted)."""
    share: str
    """The share it follows."""
    mode: ShareMode
    """proxied or direct."""
    from_chapter: str
    """The owner's chapter."""
    from_server: str | None = None
    """The owner's server (its public URL), or None when it is this server."""
    sealed: str | None = None
    """BLAKE3 hex of this event's personal blob (events/personal.py): its personal fields were
    moved there and hold their empty defaults here. None: written before sealing, or nothing
    personal."""


class MirrorSynced(Event, frozen=True, kw_only=True, tag="MirrorSynced"):
    """The mirror holds the owner's chapter as it was at the owner's `rev` (chain hash `head`)."""

    rev: int
    """The owner's rev the mirror has caught up to."""
    head: str
    """Hex chain hash of the owner's log at `rev`."""
    compacted: bool = False
    """Whether the events since the last sync were compacted (proxied shares) rather than
    copied one by one (direct shares)."""


class SourceMeta(msgspec.Struct, frozen=True, kw_only=True):
    """Bibliographic facts of a source that came from a reference library (a connector).

    Item types and collections are not here: they travel as prefixed tags (`type:book`,
    `collection:/Thesis/Ch2`) so that the tag filters work on them. Personal data: `title`,
    `authors` and `doi` can name people (see the table of personal fields in events/).
    """

    title: str = ""
    """The item's title (not the attachment's file name)."""
    authors: list[str] = []
    """Creators in the library's order: "Last, First", or one name for an institution."""
    year: int | None = None
    """Year of publication, where the item's date has one."""
    doi: str | None = None
    """The DOI, bare (`10.1000/xyz`), where known."""

    def cite(self) -> str:
        """How an answer names the work: `Smith (2020)`, `Smith and Jones (2020)`,
        `Smith et al. (2020)`, `Smith (n.d.)`; the title when it has no author; "" for nothing."""
        surnames = [a.split(",", 1)[0].strip() for a in self.authors if a.strip()]
        if not surnames:
            who = self.title
        elif len(surnames) == 1:
            who = surnames[0]
        elif len(surnames) == 2:
            who = f"{surnames[0]} and {surnames[1]}"
        else:
            who = f"{surnames[0]} et al."
        if not who:
            return ""
        return f"{who} ({self.year if self.year is not None else 'n.d.'})"


class SourceAdded(Event, frozen=True, kw_only=True, tag="SourceAdded"):
    """A document joined the chapter; its bytes are in the blob store."""

    source: str
    """New source id."""
    name: str
    """File name or page title as the user knows it."""
    media_type: str
    """Media type as declared at upload (ingest detects the real one from the bytes)."""
    blob: str
    """BLAKE3 hex of the original bytes."""
    size: int
    """Byte size of the original."""
    origin: str = "upload"
    """Where it came from: upload, url, zotero, note, copy…"""
    url: str | None = None
    """The address it was fetched from, for web pages."""
    tags: list[str] = []
    """User tags."""
    assets: list[str] = []
    """BLAKE3 hex of related blobs kept with the source, e.g. a web page's images."""
    connector: str | None = None
    """The connector that brought it in (its id), when `origin` is a connector's kind."""
    ref: str | None = None
    """The stable remote reference of the item within its connector's library, e.g.
    `items/ABCD1234/attachments/EFGH5678` (personal: it may carry a file's name)."""
    meta: SourceMeta | None = None
    """Bibliographic metadata from the connector (personal: titles and authors)."""
    sealed: str | None = None
    """BLAKE3 hex of this event's personal blob (events/personal.py): its personal fields were
    moved there and hold their empty defaults here. None: written before sealing, or nothing
    personal."""


class SourceExtracted(Event, frozen=True, kw_only=True, tag="SourceExtracted"):
    """Ingest extracted the text and chunked it."""

    source: str
    """Source id."""
    text_blob: str
    """BLAKE3 hex of the extracted text (UTF-8) in the blob store."""
    extractor: str
    """Extractor name, e.g. `pdf`."""
    extractor_version: str
    """Extractor version, so that a better extractor can be told apart in history."""
    media_type: str = ""
    """The type detected from the bytes."""
    chunks: list[ChunkRef] = []
    """The chunk manifest, in text order (empty when it is in `chunks_blob`)."""
    chunks_blob: str | None = None
    """BLAKE3 hex of the manifest (MessagePack list of ChunkRef) when too long to carry inline."""
    chunk_count: int = 0
    """How many chunks the manifest has, inline or not (0 in events written before this field)."""

    @property
    def chunk_total(self) -> int:
        """The number of chunks, whichever way the manifest travels."""
        return self.chunk_count or len(self.chunks)


class SourceRejected(Event, frozen=True, kw_only=True, tag="SourceRejected"):
    """Ingest could not use the source; the blob stays."""

    source: str
    """Source id."""
    code: str
    """Machine code: corrupt, encrypted, empty, unsupported, too_large."""
    message: str
    """What a person should read."""


class SourceEdited(Event, frozen=True, kw_only=True, tag="SourceEdited"):
    """The extracted text of a source was edited; ingest re-chunks it."""

    source: str
    """Source id."""
    base_text: str
    """BLAKE3 hex of the text the patch applies to."""
    patch: bytes
    """`rust_core.diff(base, new)`: a compact patch."""
    new_text: str
    """BLAKE3 hex of the text after the edit (in the blob store)."""
    sealed: str | None = None
    """BLAKE3 hex of this event's personal blob (events/personal.py): its personal fields were
    moved there and hold their empty defaults here. None: written before sealing, or nothing
    personal."""


class SourceRetagged(Event, frozen=True, kw_only=True, tag="SourceRetagged"):
    """A source's tags were replaced."""

    source: str
    """Source id."""
    tags: list[str] = []
    """The new tag set."""


class SourceRevised(Event, frozen=True, kw_only=True, tag="SourceRevised"):
    """New bytes for an existing source (a connector's item got a new file version); ingest
    extracts it again. Tags and metadata are unchanged (see SourceRetagged, SourceDescribed)."""

    source: str
    """Source id."""
    blob: str
    """BLAKE3 hex of the new bytes."""
    size: int
    """Byte size of the new bytes."""
    media_type: str
    """Media type declared by the remote library."""
    name: str
    """The file name now (personal: it may name people)."""
    sealed: str | None = None
    """BLAKE3 hex of this event's personal blob (events/personal.py); None: nothing sealed."""


class SourceDescribed(Event, frozen=True, kw_only=True, tag="SourceDescribed"):
    """A source's bibliographic metadata changed (title, authors, year, DOI)."""

    source: str
    """Source id."""
    meta: SourceMeta | None = None
    """The whole metadata after the change (personal: titles and authors); None once erased."""
    sealed: str | None = None
    """BLAKE3 hex of this event's personal blob (events/personal.py); None: nothing sealed."""


class SourceRemoved(Event, frozen=True, kw_only=True, tag="SourceRemoved"):
    """A source left the chapter (its blob may stay for history)."""

    source: str
    """Source id."""


class ThreadStarted(Event, frozen=True, kw_only=True, tag="ThreadStarted"):
    """A chat thread was opened."""

    thread: str
    """Thread id."""
    title: str = ""
    """Human title."""
    sealed: str | None = None
    """BLAKE3 hex of this event's personal blob (events/personal.py): its personal fields were
    moved there and hold their empty defaults here. None: written before sealing, or nothing
    personal."""


class MessagePosted(Event, frozen=True, kw_only=True, tag="MessagePosted"):
    """A question or an answer in a thread."""

    thread: str
    """Thread id."""
    message: str
    """Message id."""
    role: Literal["user", "assistant"]
    """Who speaks."""
    text: str
    """The message text."""
    citations: list[Citation] = []
    """Passages an answer relied on."""
    answered_at_rev: int | None = None
    """The chapter rev the answer's retrieval saw."""
    model: str | None = None
    """Provider and model that answered, e.g. `openai:gpt-4o-mini`, or `extractive`."""
    usage: TokenUsage | None = None
    """Token usage as reported by the provider."""
    retrieval: Retrieval | None = None
    """An answer's retrieval configuration (None in answers written before it was recorded)."""
    query: str | None = None
    """The standalone query an answer's retrieval searched (None: before it was recorded)."""
    sealed: str | None = None
    """BLAKE3 hex of this event's personal blob (events/personal.py): its personal fields were
    moved there and hold their empty defaults here. None: written before sealing, or nothing
    personal."""


class ShareGranted(Event, frozen=True, kw_only=True, tag="ShareGranted"):
    """The chapter was shared (credentials live in the accounts store, never here)."""

    share: str
    """Share id."""
    mode: ShareMode
    """copy, proxied (throttled live) or direct (live subscription)."""
    grantee: str
    """E-mail or user id of the recipient."""
    permissions: list[Permission] = []
    """What the grantee may do besides reading."""
    interval_s: int | None = None
    """Relay tick for proxied shares: 60 or 600."""
    scope: list[str] = msgspec.field(default_factory=lambda: ["sources", "notes"])
    """What is shared: sources, notes, threads."""
    expires_at: int | None = None
    """Unix ms after which the share opens nothing (None: until revoked)."""
    sealed: str | None = None
    """BLAKE3 hex of this event's personal blob (events/personal.py): its personal fields were
    moved there and hold their empty defaults here. None: written before sealing, or nothing
    personal."""


class ShareRevoked(Event, frozen=True, kw_only=True, tag="ShareRevoked"):
    """A share ended."""

    share: str
    """Share id."""


class HeadSigned(Event, frozen=True, kw_only=True, tag="HeadSigned"):
    """The book's key signed the chapter's head and Merkle root at `rev` (a signed tree head).

    Not a change of the chapter: signers never sign because of one (events/heads.py has the
    signing strings and the check)."""

    rev: int
    """The signed rev (before this event's own)."""
    head: str
    """Hex chain hash h[rev]."""
    key: str
    """Hex Ed25519 public key of the signer: a key of the chapter's book (events/keys.py)."""
    signature: str
    """Hex Ed25519 signature over `ragstack.head.v2|<chapter>|<rev>|<head>|<root>`, or over
    `ragstack.head.v1|<chapter>|<rev>|<head>` when `root` is None (events written before roots)."""
    root: str | None = None
    """Hex RFC 9162 Merkle root over h[1..rev] (`rust_core.merkle_root`); None in v1 heads."""


class ContentErased(Event, frozen=True, kw_only=True, tag="ContentErased"):
    """Content of this chapter was erased (docs/log-format.md, "Erasure"): the blobs in `refs`
    were deleted from the blob store, and every follower forgets what it holds of them — views
    re-fold, the vector index deletes the source's chunks, mirrors delete their copies. The
    chained events that named those blobs stay as they were, so the chain still verifies."""

    refs: list[str] = []
    """BLAKE3 hex of the blobs erased: personal blobs (`sealed`) and, for a source, its bytes,
    assets, extracted texts and chunk manifests that no other chapter references."""
    subject: str | None = None
    """The user whose data was erased (a person's erasure), or None."""
    source: str | None = None
    """The source erased (an admin's erasure of one source), or None."""
    whole: bool = False
    """Whether the whole chapter's content was erased (a chapter assigned to an erased person)."""
    reason: str = ""
    """Why, in a word: `person`, `source`, `chapter`."""


ChapterEvent = (
    ChapterCreated
    | ChapterRenamed
    | ChapterForked
    | ChapterMirrored
    | MirrorSynced
    | SourceAdded
    | SourceExtracted
    | SourceRejected
    | SourceEdited
    | SourceRetagged
    | SourceRemoved
    | SourceRevised
    | SourceDescribed
    | ThreadStarted
    | MessagePosted
    | ShareGranted
    | ShareRevoked
    | HeadSigned
    | ContentErased
)
