"""The envelope every log message carries, and the codec (MessagePack on the wire).

The message payload is exactly `encode(envelope)`. Decoding is two-step so that a log written by
a newer version never crashes an older reader: the body is decoded against the known tagged union,
and a body whose tag is unknown becomes an `UnknownEvent` that keeps its raw bytes (so re-encoding
it writes the same bytes back).
"""

from typing import Any

import msgspec

from events.book import BookEvent
from events.chapter import ChapterEvent, Event

ENVELOPE_VERSION = 1


class UnknownEvent:
    """A body whose tag this version does not know; `raw` is its exact MessagePack encoding."""

    __slots__ = ("raw", "type")

    def __init__(self, type: str, raw: bytes) -> None:
        self.type = type
        self.raw = raw

    def __eq__(self, other: object) -> bool:
        return isinstance(other, UnknownEvent) and (self.type, self.raw) == (other.type, other.raw)

    def __hash__(self) -> int:
        return hash((self.type, self.raw))

    def __repr__(self) -> str:
        return f"UnknownEvent(type={self.type!r}, {len(self.raw)} bytes)"


Body = Event | UnknownEvent


class Envelope(msgspec.Struct, frozen=True, kw_only=True):
    """One log entry. For a book log, `chapter` holds the book id (the log's owner)."""

    v: int = ENVELOPE_VERSION
    """Envelope version."""
    id: str
    """Event ULID; also the publish de-duplication id."""
    chapter: str
    """Id of the chapter (or book) whose log this is."""
    rev: int
    """1-based position in the log; equals the stream sequence."""
    at: int
    """Unix time in milliseconds when the event was written."""
    actor: str
    """User id, or `proc:<name>` for a processor."""
    body: Body
    """The event."""


class RecordedEvent(msgspec.Struct, frozen=True, kw_only=True):
    """An event as stored: its rev, chain hash and the exact payload bytes."""

    rev: int
    """Stream sequence."""
    hash: bytes
    """Chain hash h[rev] (32 bytes)."""
    payload: bytes
    """The stored message bytes: `encode(envelope)`."""

    @property
    def envelope(self) -> Envelope:
        """The decoded envelope (decoded on each access; keep the result if you need it twice)."""
        return decode(self.payload)


class DecodeError(ValueError):
    """A payload is not a valid envelope (corrupt or not ours)."""


class _WireEnvelope(msgspec.Struct, frozen=True, kw_only=True):
    v: int = ENVELOPE_VERSION
    id: str
    chapter: str
    rev: int
    at: int
    actor: str
    body: msgspec.Raw


class _TagOnly(msgspec.Struct):
    type: str


_KNOWN = ChapterEvent | BookEvent
_body_decoder = msgspec.msgpack.Decoder(_KNOWN)
_wire_decoder = msgspec.msgpack.Decoder(_WireEnvelope)
_tag_decoder = msgspec.msgpack.Decoder(_TagOnly)
_known_tags = frozenset(t.__struct_config__.tag for t in _KNOWN.__args__)


def _enc_hook(obj: Any) -> Any:
    if isinstance(obj, UnknownEvent):
        return msgspec.Raw(obj.raw)
    raise NotImplementedError(f"cannot encode {type(obj).__name__}")


_encoder = msgspec.msgpack.Encoder(enc_hook=_enc_hook)


def encode(envelope: Envelope) -> bytes:
    """The wire bytes of `envelope` (deterministic for a given envelope)."""
    return _encoder.encode(envelope)


def encode_body(body: Body) -> bytes:
    """The wire bytes of a body alone."""
    return _encoder.encode(body)


def decode_body(raw: bytes) -> Body:
    """Decode one body; an unknown tag gives `UnknownEvent`, a malformed body `DecodeError`."""
    try:
        return _body_decoder.decode(raw)
    except msgspec.ValidationError as exc:
        try:
            tag = _tag_decoder.decode(raw).type
        except (msgspec.ValidationError, msgspec.DecodeError):
            raise DecodeError(f"event body has no type tag: {exc}") from None
        if tag in _known_tags:
            raise DecodeError(f"invalid {tag} event: {exc}") from None
        return UnknownEvent(tag, bytes(raw))
    except msgspec.DecodeError as exc:
        raise DecodeError(f"event body is not MessagePack: {exc}") from None


def decode(payload: bytes) -> Envelope:
    """Decode a stored payload into an `Envelope`; `DecodeError` when it is not one."""
    try:
        wire = _wire_decoder.decode(payload)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise DecodeError(f"not a RagStack envelope: {exc}") from None
    return Envelope(
        v=wire.v,
        id=wire.id,
        chapter=wire.chapter,
        rev=wire.rev,
        at=wire.at,
        actor=wire.actor,
        body=decode_body(wire.body),
    )
