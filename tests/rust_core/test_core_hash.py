"""rust_core.hash and rust_core.Hasher: BLAKE3 against the official test vectors."""

import array
import json
from pathlib import Path

import blake3
import pytest
from hypothesis import given
from hypothesis import strategies as st

import rust_core

VECTORS = json.loads((Path(__file__).parent / "blake3_vectors.json").read_text())["cases"]


def vector_input(length: int) -> bytes:
    return bytes(i % 251 for i in range(length))


@pytest.mark.parametrize("case", VECTORS, ids=lambda c: str(c["input_len"]))
def test_hash_matches_the_official_vectors(case):
    # The default digest is the first 32 bytes of the published extended output.
    expected = bytes.fromhex(case["hash"])[:32]
    assert rust_core.hash(vector_input(case["input_len"])) == expected


@pytest.mark.parametrize("case", VECTORS, ids=lambda c: str(c["input_len"]))
def test_hasher_fed_in_pieces_matches_the_official_vectors(case):
    data = vector_input(case["input_len"])
    hasher = rust_core.Hasher()
    for start in range(0, len(data), 1000):
        hasher.update(data[start : start + 1000])
    assert hasher.digest() == bytes.fromhex(case["hash"])[:32]
    assert hasher.hexdigest() == case["hash"][:64]


def test_hash_accepts_any_contiguous_buffer():
    data = vector_input(3000)
    expected = rust_core.hash(data)
    assert rust_core.hash(bytearray(data)) == expected
    assert rust_core.hash(memoryview(data)) == expected
    assert rust_core.hash(memoryview(bytearray(data))[10:]) == rust_core.hash(data[10:])
    numbers = array.array("I", range(100))
    assert rust_core.hash(numbers) == rust_core.hash(numbers.tobytes())
    assert rust_core.hash(b"") == rust_core.hash(bytearray())


def test_hash_refuses_text_and_strided_buffers():
    with pytest.raises(TypeError):
        rust_core.hash("text")  # type: ignore[arg-type]
    with pytest.raises(BufferError):
        rust_core.hash(memoryview(b"abcdef")[::2])


def test_hash_of_a_large_input_is_the_same_with_the_gil_released():
    # Above 64 KiB the hashing runs without the GIL; the digest must not care.
    data = vector_input(1 << 20)
    hasher = rust_core.Hasher(data[:100])
    hasher.update(data[100:])
    assert rust_core.hash(data) == hasher.digest()


def test_hasher_copy_is_independent_and_digest_does_not_finish_it():
    hasher = rust_core.Hasher(b"abc")
    fork = hasher.copy()
    fork.update(b"def")
    assert hasher.digest() == rust_core.hash(b"abc")
    assert fork.digest() == rust_core.hash(b"abcdef")
    hasher.update(b"def")
    assert hasher.digest() == fork.digest()


@given(st.lists(st.binary(max_size=300), max_size=8))
def test_hasher_equals_one_shot_hash(pieces):
    hasher = rust_core.Hasher()
    for piece in pieces:
        hasher.update(piece)
    assert hasher.digest() == rust_core.hash(b"".join(pieces))


@given(st.binary(max_size=5000))
def test_hash_agrees_with_the_blake3_package(data):
    assert rust_core.hash(data) == blake3.blake3(data).digest()
