"""docs/log-format.md is enough to verify a chapter: its worked example is what the code writes
(regenerated here), and a verifier written from it alone (stranger_verifier.py: msgpack, blake3,
cryptography, nothing of ours) accepts the example and a real export, and names the rev of every
tampering; the project's own archive check agrees with it."""

from __future__ import annotations

import ast
import io
import sys
from pathlib import Path

import msgspec
import pytest

from engine.archive import export_chapter
from engine.blobs import LocalBlobStore
from events import (
    HeadSigned,
    MessagePosted,
    RecordedEvent,
    SourceAdded,
    SourceEdited,
    SourceExtracted,
    ThreadStarted,
    decode,
    encode,
)
from events.archive import EVENTS_FILE, write_archive
from events.archive_check import verify_archive_file
from events.heads import sign_head
from events.keys import BookKey, KeyHistory, public_key_of
from rust_core import GENESIS, chain_link, diff, merkle_root
from rust_core import hash as blake3
from tests.audit import log_format_example as example
from tests.audit import stranger_verifier as stranger
from tests.audit.archive_tamper import agreeing, members, rewrite

THIRD_PARTY = {"msgpack", "blake3", "cryptography"}


def test_the_documents_example_is_what_the_code_writes():
    # If this fails after a deliberate format change: uv run python -m tests.audit.log_format_example
    documented = example.documented(example.DOC.read_text())
    assert documented == example.render(example.build())


def test_the_stranger_imports_nothing_of_ours():
    tree = ast.parse(Path(stranger.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module.split(".")[0])
    assert imported - {"__future__"} <= THIRD_PARTY | sys.stdlib_module_names


def _write(path: Path, events: list[RecordedEvent], keys: list[BookKey] | None = None) -> Path:
    built = example.build()
    history = KeyHistory.of(example.BOOK, built.book_events)
    out = io.BytesIO()
    write_archive(out, chapter=example.CHAPTER, book=example.BOOK, events=events,
                  keys=history.keys if keys is None else keys,
                  blobs={blake3(example.BLOB).hex(): example.BLOB},
                  exported_at=example.T0 + 7_000)  # fmt: skip
    path.write_bytes(out.getvalue())
    return path


def test_a_stranger_verifies_the_documents_example(tmp_path):
    built = example.build()
    path = tmp_path / "example.tar"
    path.write_bytes(built.archive)
    verified = stranger.verify(path)
    assert (verified.events, verified.signed) == (4, 2)
    assert verified.keys == [public_key_of(example.PRIVATE_1), public_key_of(example.PRIVATE_2)]
    assert verify_archive_file(path).ok


def _rechained(events: list[RecordedEvent], payloads: dict[int, bytes]) -> list[RecordedEvent]:
    """The events with some payloads replaced and the chain recomputed from the first change."""
    out, prev = [], GENESIS
    for e in events:
        payload = payloads.get(e.rev, e.payload)
        out.append(RecordedEvent(rev=e.rev, hash=chain_link(prev, payload), payload=payload))
        prev = out[-1].hash
    return out


def _reencoded(event: RecordedEvent, **changes: object) -> bytes:
    envelope = decode(event.payload)
    body_changes = changes.pop("body", None)
    if body_changes:
        changes["body"] = msgspec.structs.replace(envelope.body, **body_changes)
    return encode(msgspec.structs.replace(envelope, **changes))


def _flip(events):
    e = events[1]
    flipped = bytes([*e.payload[:-1], e.payload[-1] ^ 1])
    return [events[0], RecordedEvent(rev=2, hash=e.hash, payload=flipped), *events[2:]], 2


def _drop(events):
    return [events[0], *events[2:]], 2


def _reorder(events):
    return [events[1], events[0], *events[2:]], 1


def _splice(events):
    # The event as another chapter wrote it, rechained so that only its chapter gives it away.
    return _rechained(events, {2: _reencoded(events[1], chapter="01jdch0000000000000000000x")}), 2


def _forge(events):
    return _rechained(events, {3: _reencoded(events[2], body={"signature": "00" * 64})}), 3


def _wrong_root(events):
    return _rechained(events, {4: _reencoded(events[3], body={"root": "11" * 32})}), 4


def _stranger_key(events):
    # Re-signed by a key the book never had.
    other = bytes(range(64, 96))
    body = decode(events[3].payload).body
    assert isinstance(body, HeadSigned)
    forged = sign_head(other, public_key_of(other), example.CHAPTER, body.rev, body.head,
                               body.root or "")  # fmt: skip
    payload = encode(msgspec.structs.replace(decode(events[3].payload), body=forged))
    return _rechained(events, {4: payload}), 4


@pytest.mark.parametrize(
    "tamper", [_flip, _drop, _reorder, _splice, _forge, _wrong_root, _stranger_key]
)
def test_tampering_is_named_by_its_rev(tmp_path, tamper):
    events, bad_rev = tamper(list(example.build().events))
    path = _write(tmp_path / "tampered.tar", events)
    with pytest.raises(stranger.Fault) as fault:
        stranger.verify(path)
    assert fault.value.rev == bad_rev, str(fault.value)
    # The project's own check names the same rev.
    report = verify_archive_file(path)
    assert not report.ok and report.first_bad_rev == bad_rev, report


def test_a_line_that_is_not_an_event_is_named_by_its_rev(tmp_path):
    path = tmp_path / "example.tar"
    path.write_bytes(example.build().archive)
    files = members(path)
    lines = files[EVENTS_FILE].split(b"\n")
    lines[2] = b'{"rev": 3, "hash": "00", "payload": "not base64!"}'
    bad = rewrite(tmp_path / "bad.tar", agreeing(files, EVENTS_FILE, b"\n".join(lines)))
    with pytest.raises(stranger.Fault) as fault:
        stranger.verify(bad)
    assert fault.value.rev == 3
    report = verify_archive_file(bad)
    assert not report.ok and report.first_bad_rev == 3, report


def test_a_rotation_without_the_old_keys_signature_is_refused(tmp_path):
    history = KeyHistory.of(example.BOOK, example.build().book_events)
    second = msgspec.structs.replace(history.keys[1], rotation="22" * 64)
    path = _write(tmp_path / "rotated.tar", list(example.build().events), [history.keys[0], second])
    with pytest.raises(stranger.Fault, match="rotation"):
        stranger.verify(path)
    report = verify_archive_file(path)
    assert not report.ok and report.bad_book_rev == 2


def test_a_log_rewritten_under_a_new_key_verifies_only_against_its_own_anchor(tmp_path):
    # Everything re-signed by a key the book never had, with keys.json naming it as the anchor:
    # self-consistent, so only trust on first use catches it (log-format.md, "Keys").
    rogue = bytes(range(96, 128))
    events = list(example.build().events)
    for i in (2, 3):  # each head re-signed over the rewritten chain before it
        before = [e.hash for e in events[:i]]
        forged = sign_head(rogue, public_key_of(rogue), example.CHAPTER, i, before[-1].hex(),
                           merkle_root(before).hex())  # fmt: skip
        payload = encode(msgspec.structs.replace(decode(events[i].payload), body=forged))
        events = _rechained(events, {i + 1: payload})
    anchor = BookKey(key=public_key_of(rogue), from_rev=1, from_at=example.T0)
    verified = stranger.verify(_write(tmp_path / "rewritten.tar", events, [anchor]))
    pinned = public_key_of(example.PRIVATE_1)  # what an auditor saw first
    assert pinned not in verified.keys


# -- a real export -------------------------------------------------------------------------------


async def test_a_stranger_verifies_a_real_export(keys, tmp_path):
    blobs = LocalBlobStore(tmp_path / "blobs")
    book = await keys.books.create_book("ann", "ann@example.org", "Lab")
    chapter = (await keys.books.create_chapter("ann", book.id, "Owls")).id
    log = keys.logs.chapter(chapter)
    old, new = "Owls hunt.", "Owls hunt at night."
    await log.append_many(
        [
            SourceAdded(source="s1", name="owls.txt", media_type="text/plain",
                        blob=await blobs.put(b"owls"), size=4, assets=[await blobs.put(b"png")]),
            SourceExtracted(source="s1", text_blob=await blobs.put(old.encode()),
                            extractor="text", extractor_version="1"),
            SourceEdited(source="s1", base_text=await blobs.put(old.encode()),
                         patch=diff(old, new), new_text=await blobs.put(new.encode())),
            ThreadStarted(thread="t1"),
            MessagePosted(thread="t1", message="m1", role="user", text="When?"),
        ],
        actor="ann",
    )  # fmt: skip
    await keys.sign_head("ann", chapter)
    await keys.rotate("ann", book.id)
    await keys.sign_head("ann", chapter)
    export = await export_chapter(keys, blobs, chapter)
    path = tmp_path / "owls.tar"
    with path.open("wb") as out:
        async for chunk in export.chunks():
            out.write(chunk)
    verified = stranger.verify(path)
    assert (verified.events, verified.signed, len(verified.keys)) == (8, 2, 2)
    assert verified.head == (await log.head()).hex
