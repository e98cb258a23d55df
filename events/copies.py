"""A copy share's manifest, and the pure check that ties every copied event to the original.

A copy is a new chapter whose rev 1 is `ChapterForked` and whose next events re-issue, bodies
unchanged, the original's in-scope events up to `from_rev` (engine/copies.py builds and imports
it). The manifest keeps what a stranger needs to check each copied fact against the original:

- `hashes`: the original's chain hashes h[0..from_rev], 32 raw bytes each, concatenated;
- `events`: for each copied event its original rev and its exact original payload (the
  envelope bytes the original's chain hashed);
- `from_head` = h[from_rev] and `from_root`, the RFC 9162 Merkle root over h[1..from_rev]
  (`rust_core.merkle_root`, BLAKE3), which is what a signed tree head of the original vouches for;
- `signed_head`: the original's own `HeadSigned` event (its exact stored payload) that signs
  from_rev, its head and its root (v2, events/heads.py), by a key of the original's `book`;
- `proofs`: for each copied event, its RFC 9162 inclusion proof (h[rev] is leaf rev - 1 of the
  tree of from_rev leaves), so each copied fact is proved against the signed root on its own;
- `keys`: the original book's keys as its server listed them when the copy was taken
  (GET /v1/books/{book}/keys, which a guest cannot call: the key comes with the share).

`verify_copy` checks that the hashes give that root and head; that each payload chains,
h[rev] = BLAKE3("ragstack.chain.v1" || h[rev-1] || payload), decodes to an envelope of the
original chapter at its rev, and is in the share's scope; and that the copy re-issues exactly those
bodies, in order, after a `ChapterForked` that names the manifest. It proves the copy's facts are
the original's (soundness); it cannot prove that no in-scope event was left out, because the
payloads outside the scope (kept from the guest on purpose) are needed to tell their types.

The hashes alone tie the copy to a root; only a signature ties that root to the original's book.
So the signed head is checked too (`check_signed`): it is an event of the original chapter that
signs exactly from_rev, from_head and from_root; its key is one of the book's keys at the event's
time; its signature verifies; and every copied event's inclusion proof verifies against that
signed root. Whose keys count is the caller's to say (`keys`): the original book's key history
when the verifier can read it (the same server), else the keys the manifest carries, pinned when
the copy was taken (trust on first use: `CopyReport.signed_by` names the key, to compare with a
pin). A manifest made before signed heads has none: it checks out `signed=False` unless the
caller requires a signature.

One module holds the whole check of a copy (its format, chain, signature and proofs), as
docs/log-format.md states it in one section: hence its length.

Wire format: the manifest is MessagePack of `CopyManifest` (a map; `events` items are
`[rev, payload]` arrays), stored as a blob whose BLAKE3 hex is `ChapterForked.manifest`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import msgspec

from events.chapter import ChapterForked, HeadSigned
from events.envelope import DecodeError, Envelope, decode, decode_body, encode_body
from events.heads import head_signature_ok
from events.keys import BookKey, KeyHistory
from events.personal import open_sealed, stripped
from events.proofs import verify_inclusion
from events.scopes import copied_types
from rust_core import GENESIS, chain_link, merkle_root
from rust_core import hash as blake3

__all__ = [
    "MANIFEST_VERSION",
    "CopiedEvent",
    "CopyManifest",
    "CopyReport",
    "check_manifest",
    "check_signed",
    "decode_manifest",
    "encode_manifest",
    "manifest_hash",
    "merkle_root_hex",
    "split_hashes",
    "verify_copy",
]

MANIFEST_VERSION = 1

_HASH_SIZE = 32


class CopiedEvent(msgspec.Struct, frozen=True, array_like=True):
    """One copied event as the original stored it."""

    rev: int
    """Its rev in the original."""
    payload: bytes
    """The original's exact stored bytes (`encode(envelope)`), which its chain hashed."""


class CopyManifest(msgspec.Struct, frozen=True, kw_only=True):
    """What ties a copy to its original (stored as a blob; see the module docstring)."""

    v: int = MANIFEST_VERSION
    """Manifest format version."""
    from_chapter: str
    """The original chapter."""
    from_rev: int
    """The original's rev the copy was taken at."""
    from_head: str
    """Hex h[from_rev]."""
    from_root: str
    """Hex RFC 9162 Merkle root over h[1..from_rev] (BLAKE3 leaves and nodes)."""
    scope: list[str]
    """The share's scope: which event types were copied (`events.scopes`)."""
    hashes: bytes
    """h[0..from_rev], 32 raw bytes each, concatenated (h[0] is GENESIS)."""
    events: list[CopiedEvent]
    """The copied events in the original's order; the copy re-issues event i at rev i + 2."""
    book: str | None = None
    """The original's book, whose keys sign its heads (None in a manifest made before)."""
    signed_head: bytes | None = None
    """The original's stored `HeadSigned` event (exact payload) signing from_rev, head and root."""
    proofs: list[list[bytes]] = []
    """For each copied event, its inclusion proof in the tree over h[1..from_rev]."""
    keys: list[BookKey] = []
    """The original book's keys (current and past) as its server listed them at the copy."""

    def hash_at(self, rev: int) -> bytes:
        """h[rev] of the original (0 <= rev <= from_rev)."""
        return self.hashes[rev * _HASH_SIZE : (rev + 1) * _HASH_SIZE]


class CopyReport(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of a check; on failure, the first fault and where it is."""

    ok: bool
    checked: int
    """Copied events that verified before the first fault (all of them when ok)."""
    index: int | None = None
    """0-based position of the faulty copied event (None: a fault of the whole manifest)."""
    rev: int | None = None
    """The faulty event's rev in the original, where known."""
    copy_rev: int | None = None
    """The faulty event's rev in the copy, where one is concerned."""
    reason: str | None = None
    signed: bool = False
    """Whether the copied events were proved against a signed root of the original."""
    signed_by: str | None = None
    """The hex public key that signed that root (compare it with a key you pinned)."""

    def copy_fault(self) -> tuple[int, str]:
        """Where a failed check fails the copy chapter, and why, as a chapter's verification
        reports it: the copy's rev (1, its `ChapterForked`, for a fault of the whole manifest)
        and a sentence naming the original's rev."""
        original = f" (the original's rev {self.rev})" if self.rev is not None else ""
        reason = f"the copy does not verify against its original{original}: {self.reason}"
        return self.copy_rev or 1, reason


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(CopyManifest)


class _Stamp(msgspec.Struct):
    """The envelope fields the check needs, and the body still encoded."""

    chapter: str
    rev: int
    body: msgspec.Raw


class _Tag(msgspec.Struct):
    type: str


_stamp_decoder = msgspec.msgpack.Decoder(_Stamp)
_tag_decoder = msgspec.msgpack.Decoder(_Tag)


def encode_manifest(manifest: CopyManifest) -> bytes:
    """The manifest's blob bytes."""
    return _encoder.encode(manifest)


def decode_manifest(data: bytes) -> CopyManifest:
    """A manifest from its blob bytes; `DecodeError` when they are not one."""
    try:
        return _decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise DecodeError(f"not a copy manifest: {exc}") from None


def manifest_hash(data: bytes) -> str:
    """The blob address of a manifest's bytes (what `ChapterForked.manifest` names)."""
    return blake3(data).hex()


def split_hashes(hashes: bytes) -> list[bytes]:
    """Concatenated 32-byte chain hashes, one item each."""
    return [hashes[i : i + _HASH_SIZE] for i in range(0, len(hashes), _HASH_SIZE)]


def merkle_root_hex(hashes: bytes) -> str:
    """Hex Merkle root over h[1..] of concatenated hashes h[0..] (h[0], GENESIS, is no leaf)."""
    return merkle_root(split_hashes(hashes)[1:]).hex()


def _fault(checked: int, reason: str, **where: int | None) -> CopyReport:
    return CopyReport(ok=False, checked=checked, reason=reason, **where)


def _check_hashes(m: CopyManifest) -> CopyReport | None:
    if m.v != MANIFEST_VERSION:
        return _fault(0, f"unknown manifest version {m.v}")
    if m.from_rev < 0 or len(m.hashes) != (m.from_rev + 1) * _HASH_SIZE:
        return _fault(0, f"the manifest must hold {m.from_rev + 1} chain hashes h[0..from_rev]")
    if m.hash_at(0) != GENESIS:
        return _fault(0, "h[0] in the manifest is not the chain's genesis hash")
    return None


def _check_event(
    m: CopyManifest, i: int, event: CopiedEvent, prev_rev: int, tags: frozenset[str]
) -> str | bytes:
    """Why the i-th copied event does not tie to the original; its raw body when it does."""
    if not prev_rev < event.rev <= m.from_rev:
        return (
            f"copied event {i} claims original rev {event.rev}, out of order or outside "
            f"1..{m.from_rev}"
        )
    try:
        stamp = _stamp_decoder.decode(event.payload)
        tag = _tag_decoder.decode(stamp.body).type
    except (msgspec.DecodeError, msgspec.ValidationError):
        return f"copied event {i} (original rev {event.rev}) is not an event envelope"
    if stamp.chapter != m.from_chapter:
        return (
            f"copied event {i} (original rev {event.rev}) belongs to chapter {stamp.chapter!r}, "
            f"not {m.from_chapter!r}"
        )
    if stamp.rev != event.rev:
        return (
            f"copied event {i} claims original rev {event.rev} but was written for rev {stamp.rev}"
        )
    if chain_link(m.hash_at(event.rev - 1), event.payload) != m.hash_at(event.rev):
        return (
            f"copied event {i} (original rev {event.rev}) does not chain: BLAKE3 over "
            f"h[{event.rev - 1}] and its payload is not h[{event.rev}] (altered bytes or hashes)"
        )
    if tag not in tags:
        return (
            f"copied event {i} (original rev {event.rev}) is a {tag}, outside the share's "
            f"scope {m.scope}"
        )
    return bytes(stamp.body)


def _check(m: CopyManifest) -> tuple[CopyReport, list[bytes]]:
    """`check_manifest`, and the copied events' raw bodies (what the copy must re-issue)."""
    bad = _check_hashes(m)
    if bad is not None:
        return bad, []
    tags = frozenset(t.__struct_config__.tag for t in copied_types(m.scope))
    bodies: list[bytes] = []
    prev_rev = 0
    for i, event in enumerate(m.events):
        checked = _check_event(m, i, event, prev_rev, tags)
        if isinstance(checked, str):
            return _fault(i, checked, index=i, rev=event.rev, copy_rev=i + 2), bodies
        bodies.append(checked)
        prev_rev = event.rev
    n = len(m.events)
    if m.hash_at(m.from_rev).hex() != m.from_head:
        reason = f"h[{m.from_rev}] in the manifest is not from_head {m.from_head}"
        return _fault(n, reason, rev=m.from_rev), bodies
    if merkle_root_hex(m.hashes) != m.from_root:
        reason = f"the manifest's chain hashes h[1..{m.from_rev}] do not give its from_root"
        return _fault(n, reason, rev=m.from_rev), bodies
    return CopyReport(ok=True, checked=n), bodies


def _signed_head(m: CopyManifest) -> tuple[int, HeadSigned] | str:
    """The signed head's rev in the original and body, or why it is not one of the original's."""
    assert m.signed_head is not None
    try:
        envelope = decode(m.signed_head)
    except DecodeError:
        return "the manifest's signed head is not an event envelope"
    body, where = envelope.body, f"the original's signed head at rev {envelope.rev}"
    if not isinstance(body, HeadSigned):
        return f"the manifest's signed head (rev {envelope.rev}) is not a HeadSigned"
    if envelope.chapter != m.from_chapter:
        return f"{where} belongs to chapter {envelope.chapter!r}, not {m.from_chapter!r}"
    if body.rev != m.from_rev or body.rev >= envelope.rev:
        return f"{where} signs rev {body.rev}, not the copy's rev {m.from_rev}"
    if body.head != m.from_head:
        return f"{where} signs head {body.head}, not from_head {m.from_head}"
    if body.root != m.from_root:
        return f"{where} signs root {body.root}, not from_root {m.from_root} (forged root?)"
    return envelope.at, body


def _key_fault(m: CopyManifest, body: HeadSigned, at: int, keys: KeyHistory | None) -> str | None:
    history = keys if keys is not None else KeyHistory.of_keys(m.book or "", m.keys)
    where = f"the original's signed head of rev {m.from_rev}"
    if history.failed:
        return f"{where}: the original book's key history is broken ({history.reason})"
    key = history.find(body.key)
    if key is None:
        return f"{where} is signed by key {body.key[:16]}…, which is not the original book's"
    if not key.valid_at(at):
        return f"{where} is signed by key {body.key[:16]}…, not the book's at that time"
    if not head_signature_ok(m.from_chapter, body):
        return f"{where} has a signature that does not verify (ragstack.head.v2)"
    return None


def check_signed(
    manifest: CopyManifest, keys: KeyHistory | None = None, *, required: bool = False
) -> CopyReport:
    """Check the manifest's signed head and every copied event's inclusion proof against its
    root (see the module docstring); `keys` is the original book's key history you trust (None:
    the keys the manifest carries). A manifest without a signed head checks out `signed=False`,
    or fails when `required`. Run `check_manifest` too: this does not check the chain."""
    m, n = manifest, len(manifest.events)
    if m.signed_head is None:
        if required:
            return _fault(0, "the manifest carries no signed head of the original", rev=m.from_rev)
        return CopyReport(ok=True, checked=n)
    signed = _signed_head(m)
    if isinstance(signed, str):
        return _fault(0, signed, rev=m.from_rev)
    at, body = signed
    reason = _key_fault(m, body, at, keys)
    if reason is not None:
        return _fault(0, reason, rev=m.from_rev)
    if len(m.proofs) != n:
        return _fault(0, f"the manifest holds {len(m.proofs)} inclusion proofs for {n} events")
    root = bytes.fromhex(body.root or "")
    for i, (event, proof) in enumerate(zip(m.events, m.proofs, strict=True)):
        if not verify_inclusion(root, m.hash_at(event.rev), event.rev, m.from_rev, proof):
            return _fault(
                i,
                f"copied event {i} (original rev {event.rev}): its inclusion proof does not "
                f"verify against the original's signed root at rev {m.from_rev}",
                index=i, rev=event.rev, copy_rev=i + 2,
            )  # fmt: skip
    return CopyReport(ok=True, checked=n, signed=True, signed_by=body.key)


def check_manifest(manifest: CopyManifest) -> CopyReport:
    """Check the manifest on its own: every copied event chains to the original's hashes, names
    the original chapter and its own rev, is in scope, and the hashes give `from_head` and
    `from_root`. Event faults are reported first, so that a fault names its event when it can."""
    return _check(manifest)[0]


def _check_fork(m: CopyManifest, digest: str, first: Envelope) -> str | None:
    body = first.body
    if first.rev != 1 or not isinstance(body, ChapterForked):
        return "the copy does not start with ChapterForked at rev 1"
    if body.manifest != digest:
        return f"the copy's ChapterForked names manifest {body.manifest}, not {digest}"
    claimed = (body.from_chapter, body.from_rev, body.from_head, body.from_root)
    if claimed != (m.from_chapter, m.from_rev, m.from_head, m.from_root):
        return "the copy's ChapterForked names another original than its manifest"
    return None


def _stamp_of(event: Envelope | bytes) -> _Stamp:
    if isinstance(event, Envelope):
        return _Stamp(
            chapter=event.chapter, rev=event.rev, body=msgspec.Raw(encode_body(event.body))
        )
    try:
        return _stamp_decoder.decode(event)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return _Stamp(chapter="", rev=0, body=msgspec.Raw(b""))


def _same_body(
    copied: bytes, original: bytes, personal: Mapping[str, bytes | None] | None = None
) -> bool:
    """Whether two raw bodies are the same event: the same bytes, or (when either was written by
    another version, which may encode defaults differently) the same canonical encoding, or the
    copy is the original sealed (a migrated chapter, docs/log-format.md "Erasure"): the same
    event with its personal fields moved to a personal blob — which, when `personal` holds it,
    must open to the original's values (an erased one can no longer be compared)."""
    if copied == original:
        return True
    try:
        mine, theirs = decode_body(copied), decode_body(original)
    except DecodeError:
        return False
    if encode_body(mine) == encode_body(theirs):
        return True
    sealed = getattr(mine, "sealed", None)
    if sealed is None or getattr(theirs, "sealed", 1) is not None or type(mine) is not type(theirs):
        return False
    as_sealed = msgspec.structs.replace(stripped(theirs), sealed=sealed)  # type: ignore[arg-type]
    if encode_body(as_sealed) != encode_body(mine):
        return False
    blob = (personal or {}).get(sealed)
    if blob is None:
        return True
    opened = open_sealed(mine, blob)  # type: ignore[arg-type]
    return encode_body(opened) == encode_body(msgspec.structs.replace(theirs, sealed=sealed))


def _name(raw: bytes) -> str:
    try:
        return _tag_decoder.decode(raw).type
    except (msgspec.DecodeError, msgspec.ValidationError):
        return "not an event"


def verify_copy(
    manifest: CopyManifest | bytes,
    copy_events: Sequence[Envelope | bytes],
    *,
    keys: KeyHistory | None = None,
    require_signed: bool = False,
    personal: Mapping[str, bytes | None] | None = None,
) -> CopyReport:
    """Check a copy against its manifest: `check_manifest` and `check_signed` (given `keys`,
    and `require_signed` as its `required`), then the copy's own events from rev 1
    (`ChapterForked` naming this manifest) re-issue the manifest's bodies, encoded identically, at
    revs 2, 3, …; later events are the copy's own and are not checked.

    Give the copy's events as envelopes or as their stored payloads (faster: bodies are compared
    as bytes). Pass the manifest's blob bytes when you have them (the fork names their hash); a
    `CopyManifest` is hashed re-encoded. `personal` holds the personal blobs of a copy that
    sealed what the original carried inline (see `_same_body`)."""
    if isinstance(manifest, bytes):
        data = manifest
        try:
            m = decode_manifest(data)
        except DecodeError as exc:
            return _fault(0, str(exc))
    else:
        data, m = encode_manifest(manifest), manifest
    if not copy_events:
        return _fault(0, "the copy has no events")
    first = copy_events[0]
    try:
        first = first if isinstance(first, Envelope) else decode(first)
    except DecodeError:
        return _fault(0, "the copy's first event is not an event envelope", copy_rev=1)
    reason = _check_fork(m, manifest_hash(data), first)
    if reason is not None:
        return _fault(0, reason, copy_rev=1)
    report, originals = _check(m)
    if not report.ok:
        return report
    proved = check_signed(m, keys, required=require_signed)
    if not proved.ok:
        return proved
    for i, event in enumerate(m.events):
        where = {"index": i, "rev": event.rev, "copy_rev": i + 2}
        if i + 1 >= len(copy_events):
            return _fault(i, f"the copy lacks copied event {i} (original rev {event.rev})", **where)
        mine = _stamp_of(copy_events[i + 1])
        if mine.chapter != first.chapter or mine.rev != i + 2:
            return _fault(
                i,
                f"the copy's event at position {i + 2} is {mine.chapter!r} rev {mine.rev}",
                **where,
            )
        if not _same_body(bytes(mine.body), originals[i], personal):
            return _fault(
                i,
                f"the copy's rev {i + 2} ({_name(mine.body)}) differs from the original's "
                f"rev {event.rev} ({_name(originals[i])})",
                **where,
            )
    return proved
