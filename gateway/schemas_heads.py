"""Public shapes of the signed-head and book-key routes (gateway/routes/heads.py)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["BookKeyPublic", "BookKeysPublic", "HeadSignedPublic"]


class _Public(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)


class HeadSignedPublic(_Public):
    """A signed tree head, as appended to the chapter's log.

    Check it with Ed25519 over `ragstack.head.v2|<chapter>|<signed_rev>|<head>|<root>` under
    `key`, a key of the chapter's book (GET /v1/books/{book}/keys)."""

    chapter: str
    rev: int
    """The rev of the `HeadSigned` event itself."""
    signed_rev: int
    """The rev it signs (rev - 1)."""
    head: str
    """Hex chain hash h[signed_rev]."""
    root: str | None
    """Hex Merkle root over h[1..signed_rev]."""
    key: str
    """Hex Ed25519 public key that signed."""
    signature: str
    """Hex Ed25519 signature."""


class BookKeyPublic(_Public):
    """One key the book has had, and when it was the book's."""

    key: str
    """Hex Ed25519 public key."""
    from_rev: int
    """Book rev of the event that brought it in (`BookKeyAdded` or `BookKeyRotated`)."""
    from_at: int
    """Unix ms from which heads may be signed with it."""
    to_rev: int | None = None
    """Book rev of the rotation that retired it (None: the current key)."""
    to_at: int | None = None
    """Unix ms from which it may no longer sign."""
    rotation: str | None = None
    """Hex signature of the previous key over `ragstack.key.v1|<book>|<previous>|<key>`
    (None for the first key, the trust anchor)."""


class BookKeysPublic(_Public):
    """A book's signing keys, oldest first: the first is the trust anchor, each later one comes
    with a rotation signed by the one before."""

    book: str
    current: str | None
    """The key that signs now (None before the book's first signature, or when broken)."""
    keys: list[BookKeyPublic]
    ok: bool
    """Whether every rotation verified (the keys listed are those before any fault)."""
    bad_book_rev: int | None = None
    reason: str | None = None
