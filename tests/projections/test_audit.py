"""The audit fold: a chapter as it was at rev N or time T, from the verified log alone."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

import rust_core
from engine.errors import ChainBroken
from engine.log import GENESIS, Log
from engine.nats import HASH_HEADER
from engine.sources import add_source, remove_source, retag_source
from events import (
    ChapterCreated,
    ChapterRenamed,
    ChunkRef,
    Citation,
    Envelope,
    MessagePosted,
    ShareGranted,
    ShareRevoked,
    SourceExtracted,
    SourceRejected,
    ThreadStarted,
    TokenUsage,
    encode,
    new_id,
)
from projections.audit import (
    AuditRangeError,
    ChapterFold,
    chapter_at_rev,
    chapter_at_time,
    checked_envelope,
    fold,
    inclusion_proof,
    read_envelopes,
    rev_at_time,
    summarize,
)
from projections.catalogue import Catalogue
from projections.chat import ChatView
from projections.store import Views

CHUNKS = [ChunkRef(hash=f"{i:064x}", start=i * 10, end=i * 10 + 10) for i in range(3)]


class Story:
    """A chapter's life, with the revs where things happened."""

    def __init__(self, log: Log) -> None:
        self.log = log
        self.rev: dict[str, int] = {}

    async def mark(self, name: str) -> None:
        self.rev[name] = (await self.log.head()).rev
        # Stamps are in ms: a pause keeps the chapters' moments apart for the at=T questions.
        await asyncio.sleep(0.003)


@pytest.fixture
async def story(logs, blobs) -> AsyncIterator[tuple[Story, str, str]]:
    chapter = new_id()
    log = logs.chapter(chapter)
    await log.create()
    s = Story(log)
    await log.append(ChapterCreated(book="b1", title="Field notes"), actor="u1")
    await s.mark("created")
    report = await add_source(
        log, blobs, actor="u1", name="report.pdf", data=b"%PDF-1.7 report",
        media_type="application/pdf", tags=["b", "a"],
    )  # fmt: skip
    notes = await add_source(log, blobs, actor="u1", name="notes.txt", data=b"notes")
    await s.mark("added")
    await log.append_many(
        [
            SourceExtracted(
                source=report.source, text_blob="ab" * 32, extractor="pdf",
                extractor_version="1", media_type="application/pdf", chunks=CHUNKS,
            ),
            SourceRejected(source=notes.source, code="empty", message="the file has no text"),
        ],
        actor="proc:ingest",
    )  # fmt: skip
    await s.mark("ingested")
    await retag_source(log, actor="u1", source=report.source, tags=["final"])
    await s.mark("retagged")
    thread = new_id()
    await log.append(ThreadStarted(thread=thread, title="Budget"), actor="u1")
    await log.append(
        MessagePosted(thread=thread, message="m1", role="user", text="What did it cost?"),
        actor="u1",
    )
    answer = MessagePosted(
        thread=thread, message="m2", role="assistant", text="It cost 12 pounds [1].",
        citations=[Citation(source=report.source, chunk=CHUNKS[1].hash, start=10, end=20)],
        answered_at_rev=s.rev["retagged"], model="extractive",
        usage=TokenUsage(prompt=30, completion=7),
    )  # fmt: skip
    await log.append(answer, actor="u1")
    await s.mark("answered")
    await remove_source(log, actor="u1", source=notes.source)
    await log.append(ChapterRenamed(title="Field notes 2"), actor="u1")
    await log.append(
        ShareGranted(share="sh1", mode="direct", grantee="bob@example.org", permissions=["add"]),
        actor="u1",
    )
    await s.mark("shared")
    await log.append(ShareRevoked(share="sh1"), actor="u1")
    await log.append(answer, actor="u1")  # a retried post that reached the log twice
    await s.mark("end")
    yield s, report.source, notes.source


async def test_the_chapter_at_each_rev_is_what_was_true_then(story):
    s, report, notes = story
    log = s.log
    empty = await chapter_at_rev(log, 0)
    assert (empty.rev, empty.hash, empty.at, empty.title, empty.sources) == (
        0,
        GENESIS,
        None,
        "",
        [],
    )

    at = await chapter_at_rev(log, s.rev["created"])
    assert (at.title, at.book, at.sources, at.threads) == ("Field notes", "b1", [], [])

    # Just added: both pending, tags cleaned, in the order added.
    at = await chapter_at_rev(log, s.rev["added"])
    assert [(x.id, x.name, x.status, x.tags) for x in at.sources] == [
        (report, "report.pdf", "pending", ["a", "b"]),
        (notes, "notes.txt", "pending", []),
    ]
    # Ingested: one extracted with its chunks, one rejected with the reason.
    at = await chapter_at_rev(log, s.rev["ingested"])
    by_id = {x.id: x for x in at.sources}
    assert (by_id[report].status, by_id[report].chunks, by_id[report].extractor) == (
        "extracted", 3, "pdf 1",
    )  # fmt: skip
    assert (by_id[notes].status, by_id[notes].code, by_id[notes].reason) == (
        "rejected", "empty", "the file has no text",
    )  # fmt: skip
    at = await chapter_at_rev(log, s.rev["retagged"])
    assert {x.id: x.tags for x in at.sources}[report] == ["final"]
    assert {x.id: x.rev for x in at.sources}[report] == s.rev["retagged"]

    # The exchange: a thread with two messages, the answer's citations and rev kept.
    at = await chapter_at_rev(log, s.rev["answered"])
    assert [(t.title, t.message_count) for t in at.threads] == [("Budget", 2)]
    assert [(m.id, m.role) for m in at.messages] == [("m1", "user"), ("m2", "assistant")]
    assert at.messages[1].answered_at_rev == s.rev["retagged"]
    assert at.messages[1].citations[0].source == report
    assert at.title == "Field notes" and at.shares == []

    at = await chapter_at_rev(log, s.rev["shared"])
    assert at.title == "Field notes 2"
    assert {x.id: x.status for x in at.sources} == {report: "extracted", notes: "removed"}
    assert [(sh.id, sh.grantee, sh.permissions) for sh in at.shares] == [
        ("sh1", "bob@example.org", ["add"])
    ]

    end = await chapter_at_rev(log, s.rev["end"])
    assert end.shares == [] and len(end.messages) == 2  # the repeated post counts once
    assert end.threads[0].message_count == 2
    # Every snapshot is pinned by the chain hash of its last event.
    head = await log.head()
    assert (end.rev, end.hash) == (head.rev, head.hash)
    assert end.at == (await log.get(end.rev)).envelope.at

    with pytest.raises(AuditRangeError, match=f"has {head.rev} events, fewer than"):
        await chapter_at_rev(log, head.rev + 1)
    with pytest.raises(AuditRangeError):
        await chapter_at_rev(log, -1)


async def test_the_chapter_at_a_time_is_the_prefix_through_the_last_event_stamped_by_then(story):
    s, _, _ = story
    stamps = [e.at async for _, e in read_envelopes(s.log)]
    assert len(set(stamps)) > 5  # the story's moments are apart
    for name in ("created", "added", "answered", "shared", "end"):
        t = stamps[s.rev[name] - 1]
        expected = max(n for n, at in enumerate(stamps, 1) if at <= t)
        assert await rev_at_time(s.log, t) == expected
        by_time = await chapter_at_time(s.log, t)
        assert by_time == await chapter_at_rev(s.log, expected)
    # One ms before the first event the chapter did not exist; long after, it is the head.
    assert (await chapter_at_time(s.log, stamps[0] - 1)).rev == 0
    assert (await chapter_at_time(s.log, stamps[-1] + 10**9)).rev == len(stamps)


async def publish_raw(logs, chapter: str, envelopes: list[Envelope]) -> Log:
    """A log written around the engine (chosen stamps), each message with its chain hash."""
    log = logs.chapter(chapter)
    await log.create()
    payloads = [encode(e) for e in envelopes]
    js = log.nc.jetstream()
    for payload, digest in zip(payloads, rust_core.chain_fold(GENESIS, payloads), strict=True):
        await js.publish(log.subject, payload, headers={HASH_HEADER: digest.hex()})
    return log


def env(chapter: str, rev: int, at: int, body) -> Envelope:
    return Envelope(id=new_id(), chapter=chapter, rev=rev, at=at, actor="u1", body=body)


async def test_a_clock_that_steps_back_does_not_cut_the_prefix(logs):
    # Writer clocks disagree a little: rev 3 is stamped before rev 2. At time 2500 rev 3 had
    # happened, so rev 2 (before it in the log) had too.
    chapter = new_id()
    stamps = [1000, 3000, 2000, 4000]
    bodies = [ChapterCreated(book="b", title="t0")] + [
        ChapterRenamed(title=f"t{i}") for i in range(1, 4)
    ]
    log = await publish_raw(
        logs,
        chapter,
        [env(chapter, n, at, b) for n, (at, b) in enumerate(zip(stamps, bodies, strict=True), 1)],
    )
    assert await rev_at_time(log, 999) == 0
    assert await rev_at_time(log, 1000) == 1
    assert await rev_at_time(log, 2500) == 3
    assert (await chapter_at_time(log, 2500)).title == "t2"
    assert await rev_at_time(log, 4000) == 4


async def test_a_forged_or_foreign_event_is_named_by_its_rev(logs):
    chapter = new_id()
    good = [env(chapter, 1, 1, ChapterCreated(book="b", title="t"))]
    # Rechained so that the chain itself verifies: the envelope check must catch these.
    foreign = await publish_raw(
        logs, chapter, [*good, env("someone-else", 2, 2, ChapterRenamed(title="x"))]
    )
    with pytest.raises(ChainBroken, match="belongs to") as caught:
        await chapter_at_rev(foreign, 2)
    assert caught.value.rev == 2
    assert (await chapter_at_rev(foreign, 1)).title == "t"  # the prefix before it still folds

    other = new_id()
    shifted = await publish_raw(
        logs, other, [env(other, 1, 1, ChapterCreated(book="b", title="t")),
                      env(other, 7, 2, ChapterRenamed(title="x"))],
    )  # fmt: skip
    with pytest.raises(ChainBroken, match="written for rev 7"):
        await chapter_at_rev(shifted, 2)

    # A stored hash that does not match the payloads: the read itself refuses at that rev.
    third = new_id()
    log = logs.chapter(third)
    await log.create()
    await log.append(ChapterCreated(book="b", title="t"), actor="u1")
    payload = encode(env(third, 2, 2, ChapterRenamed(title="forged")))
    await log.nc.jetstream().publish(log.subject, payload, headers={HASH_HEADER: "00" * 32})
    with pytest.raises(ChainBroken) as caught:
        await chapter_at_rev(log, 2)
    assert caught.value.rev == 2
    with pytest.raises(ChainBroken):
        await inclusion_proof(log, 1, 2)

    # The pure fold refuses a gap as well.
    state = ChapterFold(chapter)
    state.apply(good[0])
    with pytest.raises(ChainBroken, match="expected rev 2"):
        state.apply(env(chapter, 3, 3, ChapterRenamed(title="x")))
    assert checked_envelope(chapter, (await foreign.get(1))) == good[0]


async def test_the_fold_at_the_head_agrees_with_the_catalogue_and_the_chat_view(
    story, tmp_path: Path
):
    s, _, _ = story
    chapter = s.log.id
    envelopes = [e async for _, e in read_envelopes(s.log)]
    views = await Views.open(tmp_path / "views.db")
    try:
        catalogue, chat = Catalogue(views), ChatView(views)
        await catalogue.open()
        await chat.open()
        # Folded in uneven batches, as a runner would.
        for i in range(0, len(envelopes), 4):
            await catalogue.apply(chapter, envelopes[i : i + 4])
            await chat.apply(chapter, envelopes[i : i + 4])
        snapshot = fold(chapter, envelopes)
        assert snapshot.sources == await catalogue.sources(chapter, include_removed=True)
        assert snapshot.title == (await catalogue.chapter(chapter)).title
        threads = await chat.threads(chapter)
        assert snapshot.threads == threads
        assert snapshot.messages == await chat.messages(chapter, threads[0].id)
    finally:
        await views.close()


async def test_inclusion_proofs_verify_against_the_recomputed_chain(story):
    s, _, _ = story
    events = [event async for event, _ in read_envelopes(s.log)]
    payloads = [e.payload for e in events]
    hashes = rust_core.chain_fold(GENESIS, payloads)
    assert hashes == [e.hash for e in events]
    for size in (1, 2, 7, len(events)):
        root = rust_core.merkle_root(hashes[:size])
        for rev in range(1, size + 1):
            proof = await inclusion_proof(s.log, rev, size)
            assert (proof.leaf, proof.root) == (hashes[rev - 1], root)
            assert proof.verify()
            assert rust_core.merkle_verify(root, proof.leaf, rev - 1, size, proof.proof)

    proof = await inclusion_proof(s.log, 3, len(events))
    flipped = bytearray(proof.proof[0])
    flipped[0] ^= 1
    for tampered in (
        msgspec.structs.replace(proof, proof=[bytes(flipped), *proof.proof[1:]]),
        msgspec.structs.replace(proof, leaf=hashes[3]),
        msgspec.structs.replace(proof, rev=4),
        msgspec.structs.replace(proof, size=8),  # another tree shape
        msgspec.structs.replace(proof, proof=proof.proof[:-1]),
    ):
        assert not tampered.verify(), tampered

    for rev, size in ((0, 3), (4, 3), (1, len(events) + 1)):
        with pytest.raises(AuditRangeError):
            await inclusion_proof(s.log, rev, size)


async def test_history_lines_say_what_happened_in_words(story):
    s, report, notes = story
    names = {report: "report.pdf", notes: "notes.txt"}
    lines = [summarize(e, names) async for _, e in read_envelopes(s.log)]
    assert lines == [
        'created the chapter "Field notes"',
        "added report.pdf tagged a, b",
        "added notes.txt",
        "extracted report.pdf: 3 chunks",
        "rejected notes.txt: the file has no text",
        "retagged report.pdf: final",
        'started the thread "Budget"',
        "asked: What did it cost?",
        "answered: It cost 12 pounds [1]. (1 citation, extractive)",
        "removed notes.txt",
        'renamed the chapter to "Field notes 2"',
        "shared with bob@example.org (direct; may add)",
        "revoked share sh1",
        "answered: It cost 12 pounds [1]. (1 citation, extractive)",
    ]
    # Without names the ids stand in; long questions are cut.
    envelopes = [e async for _, e in read_envelopes(s.log)]
    extracted = next(e for e in envelopes if isinstance(e.body, SourceExtracted))
    assert summarize(extracted) == f"extracted {report}: 3 chunks"
    long = env("c", 1, 1, MessagePosted(thread="t", message="m", role="user", text="why " * 50))
    assert summarize(long).endswith("…") and len(summarize(long)) == len("asked: ") + 80


async def test_the_state_at_every_rev_equals_a_fresh_fold_of_its_first_events(story):
    # For each N, the audit's chapter at rev N must be what folding the first N events from
    # scratch gives (a fresh fold, no shared state), pinned by the chain hash at N; and one pass
    # that snapshots every rev on the way (what a diff does) agrees with both.
    from app.asof import snapshots_at

    s, _, _ = story
    head = (await s.log.head()).rev
    recorded = [r async for r in s.log.read()]
    on_the_way = await snapshots_at(s.log, list(range(head + 1)))
    for n in range(head + 1):
        fresh = fold(s.log.id, [r.envelope for r in recorded[:n]])
        at = await chapter_at_rev(s.log, n)
        pinned = recorded[n - 1].hash if n else GENESIS
        assert at == msgspec.structs.replace(fresh, hash=pinned)
        assert on_the_way[n] == at
