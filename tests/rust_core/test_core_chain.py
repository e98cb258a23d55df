"""rust_core's hash chain against a pure-Python restatement of the definition in docs/architecture.md."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

import rust_core


def reference_chain(prev: bytes, payloads: list[bytes]) -> list[bytes]:
    # h[n] = BLAKE3("ragstack.chain.v1" || h[n-1] || payload[n]), spelled out with plain hash().
    out = []
    for payload in payloads:
        prev = rust_core.hash(b"ragstack.chain.v1" + prev + payload)
        out.append(prev)
    return out


def payloads_of(n: int) -> list[bytes]:
    return [f"event {i}".encode() * (i % 7 + 1) for i in range(n)]


def test_constants():
    assert bytes(32) == rust_core.GENESIS
    assert rust_core.CHAIN_DOMAIN == b"ragstack.chain.v1"


def test_first_link_from_genesis_by_hand():
    expected = rust_core.hash(b"ragstack.chain.v1" + bytes(32) + b"hello")
    assert rust_core.chain_link(rust_core.GENESIS, b"hello") == expected


@given(st.lists(st.binary(max_size=200), max_size=30), st.binary(min_size=32, max_size=32))
def test_fold_and_link_match_the_reference(payloads, prev):
    expected = reference_chain(prev, payloads)
    assert rust_core.chain_fold(prev, payloads) == expected
    head = prev
    for payload, want in zip(payloads, expected, strict=True):
        head = rust_core.chain_link(head, payload)
        assert head == want
    assert rust_core.verify_chain(prev, payloads, expected) is None


def test_fold_accepts_tuples_and_generators_and_large_batches():
    payloads = payloads_of(50)
    expected = reference_chain(rust_core.GENESIS, payloads)
    assert rust_core.chain_fold(rust_core.GENESIS, tuple(payloads)) == expected
    assert rust_core.chain_fold(rust_core.GENESIS, (p for p in payloads)) == expected
    # Over 64 KiB of payload the fold runs without the GIL.
    big = [bytes([i]) * 4096 for i in range(40)]
    assert rust_core.chain_fold(rust_core.GENESIS, big) == reference_chain(rust_core.GENESIS, big)


def test_fold_continues_from_a_head():
    payloads = payloads_of(10)
    whole = rust_core.chain_fold(rust_core.GENESIS, payloads)
    assert rust_core.chain_fold(whole[3], payloads[4:]) == whole[4:]
    assert rust_core.verify_chain(whole[3], payloads[4:], whole[4:]) is None


def test_verify_finds_a_flipped_byte():
    payloads = payloads_of(20)
    hashes = rust_core.chain_fold(rust_core.GENESIS, payloads)
    for index in (0, 7, 19):
        tampered = list(payloads)
        tampered[index] = bytes([tampered[index][0] ^ 1]) + tampered[index][1:]
        assert rust_core.verify_chain(rust_core.GENESIS, tampered, hashes) == index
    bad_hashes = list(hashes)
    bad_hashes[12] = bytes([hashes[12][0] ^ 0x80]) + hashes[12][1:]
    assert rust_core.verify_chain(rust_core.GENESIS, payloads, bad_hashes) == 12


def test_verify_finds_a_dropped_a_swapped_and_a_spliced_payload():
    payloads = payloads_of(20)
    hashes = rust_core.chain_fold(rust_core.GENESIS, payloads)
    dropped = payloads[:5] + payloads[6:]
    assert rust_core.verify_chain(rust_core.GENESIS, dropped, hashes) == 5
    swapped = list(payloads)
    swapped[8], swapped[9] = swapped[9], swapped[8]
    assert rust_core.verify_chain(rust_core.GENESIS, swapped, hashes) == 8
    spliced = [*payloads[:11], b"forged event", *payloads[11:]]
    assert rust_core.verify_chain(rust_core.GENESIS, spliced, hashes) == 11
    # A forged hash list that is internally consistent still fails where it departs.
    forged = spliced[:15]
    assert rust_core.verify_chain(rust_core.GENESIS, forged, hashes) == 11


def test_verify_reports_where_the_shorter_side_ends():
    payloads = payloads_of(6)
    hashes = rust_core.chain_fold(rust_core.GENESIS, payloads)
    assert rust_core.verify_chain(rust_core.GENESIS, payloads, hashes[:4]) == 4
    assert rust_core.verify_chain(rust_core.GENESIS, payloads[:2], hashes) == 2
    assert rust_core.verify_chain(rust_core.GENESIS, [], []) is None
    assert rust_core.verify_chain(rust_core.GENESIS, [], hashes) == 0


def test_verify_treats_a_truncated_hash_as_a_mismatch():
    payloads = payloads_of(3)
    hashes = rust_core.chain_fold(rust_core.GENESIS, payloads)
    assert rust_core.verify_chain(rust_core.GENESIS, payloads, [*hashes[:2], hashes[2][:16]]) == 2


@pytest.mark.parametrize("prev", [b"", bytes(31), bytes(33)])
def test_prev_of_the_wrong_length_is_a_value_error(prev):
    with pytest.raises(ValueError, match="32-byte"):
        rust_core.chain_link(prev, b"x")
    with pytest.raises(ValueError, match="32-byte"):
        rust_core.chain_fold(prev, [b"x"])
    with pytest.raises(ValueError, match="32-byte"):
        rust_core.verify_chain(prev, [b"x"], [bytes(32)])


def test_non_bytes_items_are_type_errors_naming_the_index():
    with pytest.raises(TypeError, match=r"payloads\[1\] must be bytes, not str"):
        rust_core.chain_fold(rust_core.GENESIS, [b"a", "b"])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="single bytes"):
        rust_core.chain_fold(rust_core.GENESIS, b"abc")
    with pytest.raises(TypeError, match=r"hashes\[0\]"):
        rust_core.verify_chain(rust_core.GENESIS, [b"a"], [None])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        rust_core.chain_fold(rust_core.GENESIS, 42)  # type: ignore[arg-type]
