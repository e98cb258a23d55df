"""Which fields of an event are personal, and how they are sealed out of the chained bytes and
opened again (docs/log-format.md, "Erasure"). Pure: the blob I/O is the engine's
(engine/personal.py).

A sealed event keeps its personal fields at their empty defaults and names, in `sealed`, a
*personal blob*: `nonce (32 random bytes) || MessagePack map of the personal fields`, stored in
the blob store under its BLAKE3 hash, which is `sealed`. The nonce makes that hash a keyed one:
once the blob is erased, a guess at a short text ("yes") cannot be confirmed against the log.
"""

from __future__ import annotations

from typing import Any

import msgspec

import rust_core
from events.book import BookCreated, ChapterRegistered, MemberAdded
from events.chapter import (
    ChapterCreated,
    ChapterForked,
    ChapterMirrored,
    ChapterRenamed,
    Event,
    MessagePosted,
    ShareGranted,
    SourceAdded,
    SourceDescribed,
    SourceEdited,
    SourceRevised,
    ThreadStarted,
)

__all__ = [
    "ERASED",
    "NONCE_BYTES",
    "PERSONAL",
    "erased",
    "is_sealable",
    "open_sealed",
    "seal",
    "stripped",
]

ERASED = "[erased]"
"""What a personal text field reads as once its blob is erased (clients show it as is)."""

NONCE_BYTES = 32
"""Length of the random prefix of a personal blob."""

PERSONAL: dict[type[Event], tuple[str, ...]] = {
    ChapterCreated: ("title",),
    ChapterRenamed: ("title",),
    ChapterForked: ("title",),
    ChapterMirrored: ("title",),
    SourceAdded: ("name", "url", "meta"),
    SourceRevised: ("name",),
    SourceDescribed: ("meta",),
    SourceEdited: ("patch",),
    ThreadStarted: ("title",),
    MessagePosted: ("text", "citations", "query"),
    ShareGranted: ("grantee",),
    BookCreated: ("name", "owner_email"),
    MemberAdded: ("email",),
    ChapterRegistered: ("title",),
}
"""The one table of personal fields, per event type. Every type here has a `sealed` field.
A connector's `SourceAdded.ref` stays in the chain: it is the remote library's opaque item key
(never a name), and a sync must find what it brought in even after the source is erased.
Citations are sealed whole: their headings quote the sources, and which passages answered a
person's question says what they asked. In a book log, the other events name members by user id
(an invitation by a random key), chapters by id: nothing personal stays in its chained bytes."""


def _empty(field: msgspec.structs.FieldInfo) -> Any:
    # What the chained bytes hold in place of a sealed value: the field's default, or the empty
    # value of its type for a required field (`MessagePosted.text`).
    if field.default is not msgspec.NODEFAULT:
        return field.default
    if field.default_factory is not msgspec.NODEFAULT:
        return field.default_factory()
    return b"" if field.type is bytes else ""


def _erased_value(field: msgspec.structs.FieldInfo) -> Any:
    empty = _empty(field)
    return ERASED if isinstance(empty, str) else empty


def _plan(cls: type[Event]) -> tuple[type[msgspec.Struct], dict[str, Any], dict[str, Any]]:
    names = PERSONAL[cls]
    fields = {f.name: f for f in msgspec.structs.fields(cls)}
    if "sealed" not in fields:
        raise TypeError(f"{cls.__name__} has personal fields but no `sealed` field")
    shape = msgspec.defstruct(
        f"{cls.__name__}Personal",
        [(n, fields[n].type, _empty(fields[n])) for n in names],
        kw_only=True,
    )
    return (
        shape,
        {n: _empty(fields[n]) for n in names},
        {n: _erased_value(fields[n]) for n in names},
    )


_PLANS = {cls: _plan(cls) for cls in PERSONAL}
_DECODERS = {cls: msgspec.msgpack.Decoder(plan[0]) for cls, plan in _PLANS.items()}
_encoder = msgspec.msgpack.Encoder()


def is_sealable(body: object) -> bool:
    """Whether `body`'s type has personal fields."""
    return type(body) in _PLANS


def stripped(body: Event) -> Event:
    """`body` with its personal fields at their empty defaults (what the chain carries)."""
    return msgspec.structs.replace(body, **_PLANS[type(body)][1])


def seal(body: Event, nonce: bytes) -> tuple[Event, bytes] | None:
    """`(sealed body, personal blob)`, or None when there is nothing to seal: a type without
    personal fields, fields all empty, or a body sealed already (a copy re-issuing an event keeps
    its `sealed`, so two chapters reference one blob)."""
    plan = _PLANS.get(type(body))
    if plan is None or getattr(body, "sealed", None) is not None:
        return None
    shape, empty, _ = plan
    values = {n: getattr(body, n) for n in empty}
    if values == empty:
        return None
    if len(nonce) != NONCE_BYTES:
        raise ValueError(f"a personal blob's nonce is {NONCE_BYTES} bytes, not {len(nonce)}")
    blob = nonce + _encoder.encode(shape(**values))
    ref = rust_core.hash(blob).hex()
    return msgspec.structs.replace(body, **empty, sealed=ref), blob


def open_sealed(body: Event, blob: bytes | None) -> Event:
    """`body` with its personal fields filled from its personal blob, or, when the blob is gone
    (None), marked erased (`ERASED` for texts, empty otherwise). A body with nothing sealed is
    returned as is. The caller checked that `blob` is the one `body.sealed` names."""
    plan = _PLANS.get(type(body))
    if plan is None or getattr(body, "sealed", None) is None:
        return body
    if blob is None:
        return erased(body)
    try:
        values = _DECODERS[type(body)].decode(blob[NONCE_BYTES:])
    except (msgspec.DecodeError, msgspec.ValidationError):
        return erased(body)  # not a personal blob of this type: never show half a value
    return msgspec.structs.replace(body, **msgspec.structs.asdict(values))


def erased(body: Event) -> Event:
    """`body` as it reads once its personal blob is erased."""
    return msgspec.structs.replace(body, **_PLANS[type(body)][2])
