"""Sealing personal fields (events/personal.py, docs/log-format.md "Erasure"): the chained bytes
hold none of them, the personal blob opens to them, an erased one reads as erased, and the hash
is keyed (the same text sealed twice gives two unrelated names)."""

from __future__ import annotations

import os

import msgspec
import pytest

import rust_core
from events import (
    Citation,
    Envelope,
    MessagePosted,
    ShareGranted,
    SourceAdded,
    SourceRemoved,
    decode,
    encode,
)
from events.blobs import blobs_of
from events.personal import ERASED, PERSONAL, open_sealed, seal, stripped


def _message(text: str = "Is the Snarkwhistle safe?") -> MessagePosted:
    return MessagePosted(
        thread="t1", message="m1", role="user", text=text, query="snarkwhistle safety",
        citations=[Citation(source="s1", chunk="c" * 64, start=0, end=9, heading="Snarks")],
    )  # fmt: skip


def test_the_chained_bytes_hold_no_personal_value_and_the_blob_opens_to_them():
    body = _message()
    sealed, blob = seal(body, os.urandom(32))
    payload = encode(Envelope(id="e", chapter="c", rev=1, at=1, actor="u", body=sealed))
    assert b"Snarkwhistle" not in payload and b"Snarks" not in payload
    assert sealed.sealed == rust_core.hash(blob).hex() and blobs_of(sealed) == [sealed.sealed]
    read = decode(payload).body
    assert read.text == "" and read.citations == [] and read.query is None
    opened = open_sealed(read, blob)
    assert opened == msgspec.structs.replace(body, sealed=sealed.sealed)


def test_an_erased_blob_reads_as_erased_and_never_raises():
    sealed, _ = seal(_message(), os.urandom(32))
    erased = open_sealed(sealed, None)
    assert erased.text == ERASED and erased.citations == [] and erased.query is None
    assert open_sealed(sealed, b"\x00" * 32 + b"not msgpack of this type").text == ERASED
    granted, _ = seal(ShareGranted(share="s", mode="copy", grantee="eve@example.org"), bytes(32))
    assert open_sealed(granted, None).grantee == ERASED


def test_the_hash_is_keyed_by_its_nonce():
    one, _ = seal(_message("yes"), os.urandom(32))
    two, _ = seal(_message("yes"), os.urandom(32))
    assert one.sealed != two.sealed
    with pytest.raises(ValueError, match="32 bytes"):
        seal(_message(), b"short")


def test_nothing_to_seal_leaves_the_body_alone():
    assert seal(SourceRemoved(source="s"), bytes(32)) is None  # no personal fields
    assert seal(MessagePosted(thread="t", message="m", role="user", text=""), bytes(32)) is None
    sealed, _ = seal(_message(), bytes(32))
    assert seal(sealed, bytes(32)) is None  # sealed already: a copy keeps its blob
    opened_again = msgspec.structs.replace(sealed, text="leaked")
    assert stripped(opened_again).text == ""


def test_every_type_with_personal_fields_can_be_sealed():
    for cls, fields in PERSONAL.items():
        assert "sealed" in cls.__struct_fields__, cls.__name__
        assert set(fields) <= set(cls.__struct_fields__), cls.__name__
    added = SourceAdded(source="s", name="diary.txt", media_type="text/plain", blob="b" * 64,
                        size=1, url="https://example.org/me")  # fmt: skip
    sealed, blob = seal(added, bytes(32))
    assert (sealed.name, sealed.url) == ("", None)
    assert blobs_of(sealed) == ["b" * 64, sealed.sealed]
    assert open_sealed(sealed, blob).url == "https://example.org/me"
