"""The SDK's proofs checked here against roots the client trusts: a pinned root moves forward
only by a consistency proof from it, and a forged or misaddressed proof is refused."""

from __future__ import annotations

import pytest

import rust_core
from client.proofs import Consistency, RootPin, check_consistency, check_inclusion
from client.sdk import AsyncClient


@pytest.fixture
async def chapter(alice: AsyncClient) -> str:
    """A chapter of twelve events: created, then eleven renames."""
    book = await alice.create_book("Proofs")
    made = await alice.create_chapter(book.id, "Ledger")
    for i in range(11):
        await alice.rename_chapter(made.id, f"Ledger {i}")
    return made.id


async def test_a_pinned_root_advances_by_consistency_proofs(alice: AsyncClient, chapter: str):
    leaves = [e.recorded().hash async for e in alice.iter_events(chapter)]
    # The client pins the root of the first 5 events, computed from bytes it checked itself.
    pin = RootPin(5, rust_core.merkle_root(leaves[:5]).hex())
    step = await alice.consistency(chapter, 5, to=9)
    assert isinstance(step, Consistency) and (step.from_, step.to) == (5, 9)
    assert step.verify() and pin.advance(step) and (pin.size, pin.root) == (9, step.new_root)
    # An inclusion proof in the pinned tree checks against the pinned root.
    proof = await alice.proof(chapter, 7, size=9)
    assert pin.check(proof) and check_inclusion(proof, pin.root)
    assert not pin.check(await alice.proof(chapter, 7, size=10))  # another tree
    # A proof that does not start at the pinned size, or from another root, moves nothing.
    assert not pin.advance(await alice.consistency(chapter, 5))
    last = await alice.consistency(chapter, 9)
    assert last.to == len(leaves)
    forged_root = rust_core.merkle_root([*leaves[:8], b"rewritten"]).hex()
    assert not check_consistency(last, forged_root)
    assert not RootPin(9, forged_root).advance(last)
    assert pin.advance(last) and pin.size == len(leaves)


def test_malformed_answers_are_refused_not_raised():
    bad = Consistency(from_=1, to=2, old_root="zz", new_root="00" * 32, proof=["nothex"])
    assert not bad.verify()
    assert not RootPin(1, "00" * 32).advance(bad)
