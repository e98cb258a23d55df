"""A book's signing keys: Ed25519 helpers, the rotation signing string, and the key history.

Every book has one current Ed25519 key. Its log announces the first key with `BookKeyAdded` (the
trust anchor); each later key comes with `BookKeyRotated`, signed by the key it replaces over

    ragstack.key.v1|<book>|<old>|<new>

(UTF-8; `<book>` is the book id, `<old>` and `<new>` the lower-case hex public keys, 64 characters
each). A signature is the 64-byte Ed25519 signature (RFC 8032) in lower-case hex.

`KeyHistory` folds a book log's key events into the keys it has had, each valid from the time of
the event that brought it in (its envelope's `at`, unix ms, and its book rev) until the time of the
rotation that retired it. The first fault (a rotation not signed by the old key, one that does not
start from the current key, a second `BookKeyAdded`) stops the fold: no key after a fault is the
book's, so a log rewritten under a key not reached by valid rotations is refused by whoever pinned
an earlier key (trust on first use, client/chain.py). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from events.book import BookKeyAdded, BookKeyRotated
from events.envelope import Envelope

__all__ = [
    "KEY_PREFIX",
    "BookKey",
    "KeyHistory",
    "key_message",
    "new_private_key",
    "public_key_of",
    "rotation",
    "sign",
    "signature_ok",
]

KEY_PREFIX = "ragstack.key.v1"
"""First field of a rotation's signing string."""

_KEY_HEX = 64
_SIG_HEX = 128


def new_private_key() -> bytes:
    """A fresh Ed25519 private key: its 32 raw bytes (keep them secret)."""
    return Ed25519PrivateKey.generate().private_bytes_raw()


def public_key_of(private: bytes) -> str:
    """The hex public key of a raw private key."""
    public = Ed25519PrivateKey.from_private_bytes(private).public_key()
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def sign(private: bytes, message: bytes) -> str:
    """The hex Ed25519 signature of `message` under a raw private key."""
    return Ed25519PrivateKey.from_private_bytes(private).sign(message).hex()


def signature_ok(key: str, message: bytes, signature: str) -> bool:
    """Whether `signature` (hex) is `key`'s (hex public key) over `message`; malformed input
    simply does not verify."""
    if len(key) != _KEY_HEX or len(signature) != _SIG_HEX:
        return False
    try:
        public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(key))
        public.verify(bytes.fromhex(signature), message)
    except (ValueError, InvalidSignature):
        return False
    return True


def key_message(book: str, old: str, new: str) -> bytes:
    """The bytes a rotation's old key signs."""
    return f"{KEY_PREFIX}|{book}|{old}|{new}".encode()


def rotation(book: str, old_private: bytes, new: str) -> BookKeyRotated:
    """The event that retires the key of `old_private` in favour of the public key `new`."""
    old = public_key_of(old_private)
    return BookKeyRotated(
        old=old, new=new, signature=sign(old_private, key_message(book, old, new))
    )


class BookKey(msgspec.Struct, frozen=True, kw_only=True):
    """One key the book has had, and when it was the book's."""

    key: str
    """Hex Ed25519 public key."""
    from_rev: int
    """The book rev of the event that brought it in (`BookKeyAdded` or `BookKeyRotated`)."""
    from_at: int
    """That event's time (unix ms): heads signed from then on may use this key."""
    to_rev: int | None = None
    """The book rev of the rotation that retired it (None: the current key)."""
    to_at: int | None = None
    """That rotation's time (unix ms): heads signed from then on may not use this key."""
    rotation: str | None = None
    """Hex signature of the previous key over this one (`key_message`); None for the anchor."""

    def valid_at(self, at: int) -> bool:
        """Whether the key was the book's at time `at` (unix ms)."""
        return self.from_at <= at and (self.to_at is None or at < self.to_at)


class KeyHistory:
    """Fold a book log's events (any, in order) into its keys; the first fault stops the fold."""

    def __init__(self, book: str) -> None:
        self.book = book
        self.keys: list[BookKey] = []
        self.rev = 0
        """The last book rev folded."""
        self.bad_rev: int | None = None
        """The book rev of the first fault."""
        self.reason: str | None = None

    @classmethod
    def of(cls, book: str, envelopes: Iterable[Envelope]) -> KeyHistory:
        """The history folded from `envelopes`."""
        history = cls(book)
        for envelope in envelopes:
            history.apply(envelope)
        return history

    @classmethod
    def of_keys(cls, book: str, keys: Sequence[BookKey]) -> KeyHistory:
        """The history a list of keys claims (GET /v1/books/{book}/keys), re-checked here: the
        first is the anchor, each later one must come by a rotation the one before signed, at the
        rev and time that one's validity ends."""
        events: list[Envelope] = []
        for i, key in enumerate(keys):
            if i == 0:
                body: BookKeyAdded | BookKeyRotated = BookKeyAdded(key=key.key)
            else:
                before = keys[i - 1]
                if (before.to_rev, before.to_at) != (key.from_rev, key.from_at):
                    history = cls(book)
                    history._fail(key.from_rev, "the keys listed do not follow one another")
                    return history
                body = BookKeyRotated(old=before.key, new=key.key, signature=key.rotation or "")
            events.append(
                Envelope(id="", chapter=book, rev=key.from_rev, at=key.from_at, actor="", body=body)
            )
        history = cls.of(book, events)
        if keys and not history.failed and keys[-1].to_rev is not None:
            history._fail(keys[-1].to_rev, "the last key listed was retired, by no key listed")
        return history

    @property
    def failed(self) -> bool:
        return self.bad_rev is not None

    @property
    def current(self) -> BookKey | None:
        """The key that signs now (None before the first key, or after a fault)."""
        if self.failed or not self.keys:
            return None
        return self.keys[-1]

    def find(self, key: str) -> BookKey | None:
        """The valid key with this public key, if the book has had it."""
        return next((k for k in self.keys if k.key == key), None)

    def apply(self, envelope: Envelope) -> None:
        """Fold one event of the book's log (events other than key events only move `rev`)."""
        if self.failed:
            return
        self.rev = envelope.rev
        body = envelope.body
        if isinstance(body, BookKeyAdded):
            if self.keys:
                self._fail(
                    envelope.rev,
                    "a second BookKeyAdded: a new key may only come by a rotation signed by "
                    "the current key",
                )
            elif len(body.key) != _KEY_HEX:
                self._fail(envelope.rev, "the announced key is not a 64-hex Ed25519 public key")
            else:
                self.keys.append(BookKey(key=body.key, from_rev=envelope.rev, from_at=envelope.at))
        elif isinstance(body, BookKeyRotated):
            self._rotate(envelope, body)

    def _rotate(self, envelope: Envelope, body: BookKeyRotated) -> None:
        current = self.current
        if current is None:
            self._fail(envelope.rev, "a rotation before the book announced any key")
        elif body.old != current.key:
            self._fail(
                envelope.rev,
                f"the rotation retires key {body.old[:16]}…, but the current key is "
                f"{current.key[:16]}…",
            )
        elif not signature_ok(body.old, key_message(self.book, body.old, body.new), body.signature):
            self._fail(
                envelope.rev,
                "the rotation is not signed by the old key (ragstack.key.v1|<book>|<old>|<new>)",
            )
        elif len(body.new) != _KEY_HEX or self.find(body.new) is not None:
            self._fail(envelope.rev, "the rotation's new key is malformed or was used before")
        else:
            self.keys[-1] = msgspec.structs.replace(current, to_rev=envelope.rev, to_at=envelope.at)
            self.keys.append(
                BookKey(
                    key=body.new,
                    from_rev=envelope.rev,
                    from_at=envelope.at,
                    rotation=body.signature,
                )
            )

    def _fail(self, rev: int, reason: str) -> None:
        self.bad_rev, self.reason = rev, f"book rev {rev}: {reason}"

    def reaches(self, pinned: str) -> bool:
        """Whether `pinned` (a key trusted earlier) leads to the current key by valid rotations:
        true iff it is one of the book's keys in an unbroken history."""
        return not self.failed and self.find(pinned) is not None
