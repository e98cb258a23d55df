"""Identifiers: lower-case ULIDs, safe in NATS subjects and stream names."""

from ulid import ULID


def new_id() -> str:
    """A new lower-case ULID (time-ordered, 26 characters)."""
    return str(ULID()).lower()


def id_from_digest(digest: bytes) -> str:
    """The lower-case ULID spelling 16 bytes of a digest: an id derived, not drawn, so that a
    retried write names the same thing (its time part is not a time)."""
    return str(ULID.from_bytes(digest[:16])).lower()


def is_id(value: str) -> bool:
    """Whether `value` is a lower-case ULID as produced by `new_id`."""
    if len(value) != 26 or value != value.lower():
        return False
    try:
        ULID.from_str(value.upper())
    except ValueError:
        return False
    return True
