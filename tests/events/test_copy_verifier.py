"""The copy verifier, pure: a copy checks out against its manifest, and every way of tampering
with the manifest or the copy is caught, naming the event where there is one."""

from __future__ import annotations

import msgspec
import pytest

import rust_core
from events import (
    ChapterCreated,
    ChapterForked,
    ChapterRenamed,
    Envelope,
    MessagePosted,
    ShareGranted,
    SourceAdded,
    SourceRemoved,
    SourceRetagged,
    ThreadStarted,
    decode,
    encode,
    new_id,
)
from events.copies import (
    CopiedEvent,
    CopyManifest,
    check_manifest,
    decode_manifest,
    encode_manifest,
    manifest_hash,
    merkle_root_hex,
    verify_copy,
)
from events.scopes import copied_types

BLOB = "ab" * 32


def _original(chapter: str) -> list[Envelope]:
    bodies = [
        ChapterCreated(book="b", title="Owls"),
        SourceAdded(source="s1", name="a.txt", media_type="text/plain", blob=BLOB, size=3),
        ShareGranted(share="sh", mode="copy", grantee="guest@example.org"),
        SourceAdded(source="s2", name="b.txt", media_type="text/plain", blob=BLOB, size=3),
        ThreadStarted(thread="t1", title="Why owls"),
        SourceRetagged(source="s1", tags=["birds"]),
        ChapterRenamed(title="Owls!"),
        MessagePosted(thread="t1", message="m1", role="user", text="Why?"),
        SourceRemoved(source="s2"),
    ]
    return [
        Envelope(id=new_id(), chapter=chapter, rev=i, at=1000 + i, actor="ann", body=b)
        for i, b in enumerate(bodies, 1)
    ]


def _manifest(envelopes: list[Envelope], scope: list[str]) -> CopyManifest:
    """What engine/copies.py's build_manifest gives for these events (pure, in memory)."""
    payloads = [encode(e) for e in envelopes]
    hashes = rust_core.GENESIS + b"".join(rust_core.chain_fold(rust_core.GENESIS, payloads))
    kinds = copied_types(scope)
    return CopyManifest(
        from_chapter=envelopes[0].chapter,
        from_rev=len(envelopes),
        from_head=hashes[-32:].hex(),
        from_root=merkle_root_hex(hashes),
        scope=scope,
        hashes=hashes,
        events=[
            CopiedEvent(e.rev, p)
            for e, p in zip(envelopes, payloads, strict=True)
            if isinstance(e.body, kinds)
        ],
    )


def _copy(manifest: CopyManifest, data: bytes | None = None) -> list[Envelope]:
    """A faithful copy chapter: ChapterForked naming the manifest, then the bodies re-issued."""
    chapter = new_id()
    data = encode_manifest(manifest) if data is None else data
    first = ChapterForked(
        book="guest-book", title="My owls", from_chapter=manifest.from_chapter,
        from_rev=manifest.from_rev, from_head=manifest.from_head, share="sh",
        from_root=manifest.from_root, manifest=manifest_hash(data),
    )  # fmt: skip
    bodies = [first] + [decode(e.payload).body for e in manifest.events]
    return [
        Envelope(id=new_id(), chapter=chapter, rev=i, at=5000, actor="bob", body=b)
        for i, b in enumerate(bodies, 1)
    ]


def _refork(copy: list[Envelope], manifest: CopyManifest) -> list[Envelope]:
    """The copy with its ChapterForked re-pointed at `manifest` (a forger's consistent edit)."""
    first = copy[0]
    body = msgspec.structs.replace(
        first.body, manifest=manifest_hash(encode_manifest(manifest)), from_root=manifest.from_root
    )
    return [msgspec.structs.replace(first, body=body), *copy[1:]]


@pytest.fixture
def original() -> list[Envelope]:
    return _original(new_id())


@pytest.fixture
def manifest(original) -> CopyManifest:
    return _manifest(original, ["sources", "threads"])


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


# -- a faithful copy -------------------------------------------------------------------------


def test_a_faithful_copy_verifies_from_its_bytes_or_its_struct(manifest):
    # Six events are in scope: two SourceAdded, a retag, a removal, the thread and its message.
    assert [e.rev for e in manifest.events] == [2, 4, 5, 6, 8, 9]
    data = encode_manifest(manifest)
    assert decode_manifest(data) == manifest
    copy = _copy(manifest)
    for given in (data, manifest):
        report = verify_copy(given, copy)
        assert report.ok and report.checked == 6 and report.reason is None
    # Events after the copied ones are the copy's own (the guest's later work): not checked.
    later = Envelope(id=new_id(), chapter=copy[0].chapter, rev=8, at=1, actor="bob",
                     body=SourceRemoved(source="s1"))  # fmt: skip
    assert verify_copy(data, [*copy, later]).ok


def test_the_scope_decides_what_is_copied(original):
    manifest = _manifest(original, ["sources"])
    assert [e.rev for e in manifest.events] == [2, 4, 6, 9]
    assert verify_copy(manifest, _copy(manifest)).ok
    assert copied_types(["notes"]) == ()
    # Never copied, whatever the scope: identity, shares, heads.
    kinds = copied_types(["sources", "notes", "threads"])
    assert not any(t in kinds for t in (ChapterCreated, ChapterRenamed, ShareGranted))


# -- tampering with the manifest --------------------------------------------------------------


def test_a_flipped_byte_in_a_copied_payload_is_named(manifest):
    events = list(manifest.events)
    events[2] = CopiedEvent(events[2].rev, _flip(events[2].payload, len(events[2].payload) - 2))
    forged = msgspec.structs.replace(manifest, events=events)
    report = verify_copy(forged, _refork(_copy(manifest), forged))
    assert not report.ok and (report.index, report.rev, report.copy_rev) == (2, 5, 4)
    assert report.checked == 2 and "original rev 5" in report.reason


def test_a_flipped_byte_in_a_hash_is_named_or_breaks_the_root(original, manifest):
    # h[5] belongs to a copied event: that event no longer chains.
    forged = msgspec.structs.replace(manifest, hashes=_flip(manifest.hashes, 5 * 32 + 7))
    report = check_manifest(forged)
    assert not report.ok and report.index == 2 and report.rev == 5
    assert "does not chain" in report.reason
    # With sources alone, h[7] (a rename's) chains no copied event: the root no longer matches.
    sources = _manifest(original, ["sources"])
    forged = msgspec.structs.replace(sources, hashes=_flip(sources.hashes, 7 * 32))
    report = check_manifest(forged)
    assert not report.ok and report.index is None and "from_root" in report.reason
    # h[from_rev] is the head.
    forged = msgspec.structs.replace(manifest, hashes=_flip(manifest.hashes, 9 * 32 + 1))
    report = check_manifest(forged)
    assert not report.ok and report.rev == 9
    # Hashes cut short.
    forged = msgspec.structs.replace(manifest, hashes=manifest.hashes[:-32])
    assert not check_manifest(forged).ok


def test_a_forged_root_is_refused(manifest):
    forged = msgspec.structs.replace(manifest, from_root="00" * 32)
    report = verify_copy(forged, _refork(_copy(manifest), forged))
    assert not report.ok and "from_root" in report.reason
    # The same forgery, with the copy's fork left naming the true root and manifest.
    report = verify_copy(forged, _copy(manifest))
    assert not report.ok and report.copy_rev == 1


def test_an_event_from_another_chapter_spliced_into_the_manifest_is_named(manifest):
    other = _manifest(_original(new_id()), ["sources", "threads"])
    events = list(manifest.events)
    events[1] = other.events[1]  # the same rev (4), another chapter's bytes
    forged = msgspec.structs.replace(manifest, events=events)
    report = check_manifest(forged)
    assert not report.ok and report.index == 1 and "belongs to chapter" in report.reason
    # Even with the hashes rewritten around it, the envelope still names its own chapter.
    hashes = bytearray(manifest.hashes)
    hashes[4 * 32 : 5 * 32] = rust_core.chain_link(manifest.hash_at(3), other.events[1].payload)
    forged = msgspec.structs.replace(forged, hashes=bytes(hashes))
    report = check_manifest(forged)
    assert not report.ok and report.index == 1 and "belongs to chapter" in report.reason


def test_events_reordered_or_dropped_in_the_manifest_are_named(manifest):
    events = list(manifest.events)
    events[1], events[2] = events[2], events[1]
    report = check_manifest(msgspec.structs.replace(manifest, events=events))
    assert not report.ok and report.index == 2 and "out of order" in report.reason
    # Dropped from the manifest only: the copy re-issues a body the manifest no longer has.
    dropped = msgspec.structs.replace(manifest, events=manifest.events[:3] + manifest.events[4:])
    report = verify_copy(dropped, _refork(_copy(manifest), dropped))
    assert not report.ok and report.index == 3 and report.copy_rev == 5


def test_an_out_of_scope_event_in_the_manifest_is_named(original, manifest):
    granted = CopiedEvent(3, encode(original[2]))  # the ShareGranted at rev 3
    events = [*manifest.events[:1], granted, *manifest.events[1:]]
    report = check_manifest(msgspec.structs.replace(manifest, events=events))
    assert not report.ok and report.index == 1 and "ShareGranted" in report.reason


def test_a_payload_at_a_rev_it_was_not_written_for_is_named(manifest):
    events = list(manifest.events)
    events[0] = CopiedEvent(3, events[0].payload)  # rev 2's bytes claimed as rev 3
    report = check_manifest(msgspec.structs.replace(manifest, events=events))
    assert not report.ok and report.index == 0 and "written for rev 2" in report.reason


# -- tampering with the copy ----------------------------------------------------------------


def test_a_body_changed_in_the_copy_is_named(manifest):
    copy = _copy(manifest)
    copy[3] = msgspec.structs.replace(copy[3], body=SourceRetagged(source="s1", tags=["bats"]))
    report = verify_copy(manifest, copy)
    assert not report.ok and (report.index, report.rev, report.copy_rev) == (2, 5, 4)
    assert "differs from the original's rev 5" in report.reason


def test_events_dropped_or_reordered_in_the_copy_are_named(manifest):
    copy = _copy(manifest)
    # Dropped: everything after it shifts down one rev.
    shifted = [copy[0], copy[1]] + [msgspec.structs.replace(e, rev=e.rev - 1) for e in copy[3:]]
    report = verify_copy(manifest, shifted)
    assert not report.ok and report.index == 1 and report.rev == 4
    # The last one dropped.
    report = verify_copy(manifest, copy[:-1])
    assert not report.ok and report.index == 5 and "lacks" in report.reason
    # Two swapped (bodies swapped, revs kept in order).
    swapped = list(copy)
    swapped[2] = msgspec.structs.replace(copy[2], body=copy[3].body)
    swapped[3] = msgspec.structs.replace(copy[3], body=copy[2].body)
    report = verify_copy(manifest, swapped)
    assert not report.ok and report.index == 1 and report.copy_rev == 3


def test_a_copy_that_names_another_manifest_or_no_fork_is_refused(manifest):
    copy = _copy(manifest)
    other = _manifest(_original(new_id()), ["sources"])
    report = verify_copy(other, copy)
    assert not report.ok and report.copy_rev == 1 and "names manifest" in report.reason
    report = verify_copy(manifest, copy[1:])
    assert not report.ok and "ChapterForked" in report.reason
    assert not verify_copy(manifest, []).ok
    assert not verify_copy(b"not a manifest", copy).ok


def test_a_copy_given_as_stored_payloads_is_checked_as_bytes(manifest):
    payloads = [encode(e) for e in _copy(manifest)]
    report = verify_copy(encode_manifest(manifest), payloads)
    assert report.ok and report.checked == 6
    # A flipped byte inside a copied body (the retag's tag): named, as with envelopes.
    at = payloads[4].rindex(b"birds")
    tampered = [*payloads[:4], _flip(payloads[4], at), *payloads[5:]]
    report = verify_copy(manifest, tampered)
    assert not report.ok and (report.index, report.copy_rev) == (3, 5)
    assert "SourceRetagged" in report.reason
    # Bytes that are no envelope at all.
    report = verify_copy(manifest, [*payloads[:2], b"\xc1", *payloads[3:]])
    assert not report.ok and report.copy_rev == 3
