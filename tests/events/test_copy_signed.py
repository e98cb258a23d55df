"""A copy proved against the original's signed root, pure: the manifest carries the original's
`HeadSigned` of from_rev and each copied event's inclusion proof; a faithful copy proves every
event, and a forged root, a head signed by another key, a consistent rewrite of the manifest or a
broken proof is refused, naming the rev."""

from __future__ import annotations

import msgspec
import pytest

import rust_core
from events import BookKeyAdded, Envelope, SourceAdded, decode, encode, new_id
from events.copies import (
    CopiedEvent,
    CopyManifest,
    check_signed,
    merkle_root_hex,
    verify_copy,
)
from events.heads import sign_head
from events.keys import BookKey, KeyHistory, new_private_key, public_key_of, rotation
from events.proofs import inclusion_proofs
from events.scopes import copied_types
from tests.events.test_copy_verifier import _copy, _original, _refork

BOOK = "book-of-owls"
SIGNED_AT = 2000


class Signer:
    """The original book's key: its history as the original's server lists it, and signing."""

    def __init__(self) -> None:
        self.private = new_private_key()
        self.key = public_key_of(self.private)
        self.listed = [BookKey(key=self.key, from_rev=1, from_at=0)]

    def history(self) -> KeyHistory:
        return KeyHistory.of_keys(BOOK, self.listed)

    def head(self, chapter: str, rev: int, head: str, root: str, *, private: bytes | None = None):
        """The stored payload of the original's `HeadSigned` at rev + 1 signing rev."""
        private = private or self.private
        body = sign_head(private, public_key_of(private), chapter, rev, head, root)
        envelope = Envelope(
            id=new_id(), chapter=chapter, rev=rev + 1, at=SIGNED_AT, actor="proc:keys", body=body
        )
        return encode(envelope)


def _signed(envelopes: list[Envelope], scope: list[str], signer: Signer) -> CopyManifest:
    """What engine/copies.py's `signed_manifest` gives for these events (pure, in memory)."""
    chapter, n = envelopes[0].chapter, len(envelopes)
    payloads = [encode(e) for e in envelopes]
    hashes = rust_core.GENESIS + b"".join(rust_core.chain_fold(rust_core.GENESIS, payloads))
    root = merkle_root_hex(hashes)
    kinds = copied_types(scope)
    events = [
        CopiedEvent(e.rev, p)
        for e, p in zip(envelopes, payloads, strict=True)
        if isinstance(e.body, kinds)
    ]
    return CopyManifest(
        from_chapter=chapter, from_rev=n, from_head=hashes[-32:].hex(), from_root=root,
        scope=scope, hashes=hashes, events=events, book=BOOK,
        signed_head=signer.head(chapter, n, hashes[-32:].hex(), root),
        proofs=inclusion_proofs(hashes, [e.rev for e in events]), keys=signer.listed,
    )  # fmt: skip


@pytest.fixture
def signer() -> Signer:
    return Signer()


@pytest.fixture
def original() -> list[Envelope]:
    return _original(new_id())


@pytest.fixture
def manifest(original, signer) -> CopyManifest:
    return _signed(original, ["sources", "threads"], signer)


def test_every_copied_event_proves_against_the_signed_root(manifest, signer):
    copy = _copy(manifest)
    for keys in (signer.history(), None):  # the book's own history, or the keys carried
        report = verify_copy(manifest, copy, keys=keys, require_signed=True)
        assert report.ok and report.signed and report.checked == 6, report.reason
        assert report.signed_by == signer.key
    # Each proof on its own: h[rev] is leaf rev - 1 of the signed tree of from_rev leaves.
    root = bytes.fromhex(manifest.from_root)
    for event, proof in zip(manifest.events, manifest.proofs, strict=True):
        leaf = manifest.hash_at(event.rev)
        assert rust_core.merkle_verify(root, leaf, event.rev - 1, manifest.from_rev, proof)


def test_the_proofs_are_rfc_9162_proofs_at_every_size():
    for size in (1, 2, 3, 5, 8, 13, 64, 100):
        leaves = [rust_core.hash(i.to_bytes(4, "big")) for i in range(size)]
        got = inclusion_proofs(rust_core.GENESIS + b"".join(leaves), range(1, size + 1))
        assert got == [rust_core.merkle_proof(leaves, i) for i in range(size)]


def test_a_manifest_without_a_signed_head_is_unproved(manifest):
    unsigned = msgspec.structs.replace(manifest, signed_head=None, proofs=[])
    report = verify_copy(unsigned, _refork(_copy(manifest), unsigned))
    assert report.ok and not report.signed  # a copy made before signed heads still checks
    report = verify_copy(unsigned, _refork(_copy(manifest), unsigned), require_signed=True)
    assert not report.ok and report.rev == 9 and "no signed head" in report.reason


def test_an_altered_event_rewritten_consistently_breaks_the_signed_root(original, signer):
    """A forger changes a copied event and recomputes every hash, the head and the root: the
    manifest then chains, but the original's signature is over the true root."""
    manifest = _signed(original, ["sources"], signer)
    forged_original = list(original)
    forged_original[3] = msgspec.structs.replace(
        original[3],
        body=SourceAdded(source="s2", name="forged.txt", media_type="text/plain", blob="cd" * 32,
                         size=3),
    )  # fmt: skip
    rewritten = _signed(forged_original, ["sources"], signer)
    forged = msgspec.structs.replace(rewritten, signed_head=manifest.signed_head)
    report = verify_copy(forged, _refork(_copy(forged), forged), keys=signer.history())
    assert not report.ok and report.rev == 9
    assert "signs head" in report.reason or "signs root" in report.reason


def test_a_forged_signed_root_is_named(manifest, signer):
    """The signed head's root replaced by the manifest's forged one: the signature no longer
    verifies, whatever keys are trusted."""
    forged_root = "00" * 32
    head = decode(manifest.signed_head)
    body = msgspec.structs.replace(head.body, root=forged_root)
    forged_head = encode(msgspec.structs.replace(head, body=body))
    forged = msgspec.structs.replace(manifest, signed_head=forged_head, from_root=forged_root)
    report = check_signed(forged, signer.history())
    assert not report.ok and report.rev == 9 and "does not verify" in report.reason
    # The whole copy, its fork re-pointed at the forged manifest: refused before the proofs.
    report = verify_copy(forged, _refork(_copy(manifest), forged), keys=signer.history())
    assert not report.ok and report.rev == 9


def test_a_root_signed_by_another_key_is_named(manifest, signer):
    stranger = new_private_key()
    m = manifest
    resigned = msgspec.structs.replace(
        m, signed_head=signer.head(m.from_chapter, m.from_rev, m.from_head, m.from_root,
                                   private=stranger),
    )  # fmt: skip
    report = check_signed(resigned, signer.history())
    assert not report.ok and report.rev == 9 and "not the original book's" in report.reason
    # The forger also swaps the keys the manifest carries: it checks against those keys, but
    # names the stranger's key, which is not the one pinned when the copy was taken.
    swapped = msgspec.structs.replace(
        resigned, keys=[BookKey(key=public_key_of(stranger), from_rev=1, from_at=0)]
    )
    report = check_signed(swapped)
    assert report.ok and report.signed_by != signer.key
    assert not check_signed(swapped, signer.history()).ok


def test_a_key_retired_before_the_signature_is_refused(manifest, signer):
    new_private = new_private_key()
    turn = rotation(BOOK, signer.private, public_key_of(new_private))
    retired = KeyHistory.of(
        BOOK,
        [
            Envelope(id="", chapter=BOOK, rev=1, at=0, actor="", body=BookKeyAdded(key=signer.key)),
            Envelope(id="", chapter=BOOK, rev=2, at=SIGNED_AT - 1, actor="", body=turn),
        ],
    )
    report = check_signed(manifest, retired)
    assert not report.ok and "not the book's at that time" in report.reason


def test_a_signed_head_of_another_chapter_or_rev_is_named(original, manifest, signer):
    other = _signed(_original(new_id()), ["sources", "threads"], signer)
    spliced = msgspec.structs.replace(manifest, signed_head=other.signed_head)
    report = check_signed(spliced, signer.history())
    assert not report.ok and report.rev == 9 and "belongs to chapter" in report.reason
    m = manifest
    behind = signer.head(m.from_chapter, m.from_rev - 1, m.hash_at(m.from_rev - 1).hex(),
                         merkle_root_hex(m.hashes[:-32]))  # fmt: skip
    report = check_signed(msgspec.structs.replace(m, signed_head=behind), signer.history())
    assert not report.ok and "signs rev 8, not the copy's rev 9" in report.reason


def test_a_broken_inclusion_proof_names_its_event(manifest, signer):
    proofs = [list(p) for p in manifest.proofs]
    proofs[3][0] = bytes(32)  # a wrong sibling for the fourth copied event (original rev 6)
    forged = msgspec.structs.replace(manifest, proofs=proofs)
    report = check_signed(forged, signer.history())
    assert not report.ok and (report.index, report.rev, report.copy_rev) == (3, 6, 5)
    assert "inclusion proof does not verify" in report.reason
    # Truncated, or one proof missing.
    proofs[3] = manifest.proofs[3][:-1]
    assert check_signed(msgspec.structs.replace(manifest, proofs=proofs)).rev == 6
    report = check_signed(msgspec.structs.replace(manifest, proofs=manifest.proofs[:-1]))
    assert not report.ok and "inclusion proofs" in report.reason
