"""Compaction of a proxied share's window: fewer events, the same in-scope state.

The property: for any log and any A ≤ W, folding the first A events and then the compacted
window A..W gives the live sources (and threads) the owner's fold gives at W; and the compacted
batch is never longer than the window. A mirror that only ever folds compacted batches, tick
after tick, ends where the owner is too.
"""

from __future__ import annotations

import itertools

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

import rust_core
from events import (
    ChapterCreated,
    ChapterRenamed,
    Envelope,
    Event,
    HeadSigned,
    MessagePosted,
    MirrorSynced,
    ShareGranted,
    ShareRevoked,
    SourceAdded,
    SourceEdited,
    SourceExtracted,
    SourceRejected,
    SourceRemoved,
    SourceRetagged,
    ThreadStarted,
)
from events.blobs import blobs_of
from projections.compaction import compact, snapshot, texts_needed
from projections.fold import ChapterFold

TEXTS = {f"t{i}": f"text number {i}\n" + "line of words\n" * i for i in range(5)}
SOURCES = ("s1", "s2")


def _envelopes(bodies: list[Event], start: int = 1, chapter: str = "ch") -> list[Envelope]:
    return [
        Envelope(
            id=f"e{start + i}",
            chapter=chapter,
            rev=start + i,
            at=1000 + start + i,
            actor="u",
            body=b,
        )
        for i, b in enumerate(bodies)
    ]


def _view(fold: ChapterFold, threads: bool) -> tuple:
    live = [
        (sid, msgspec.structs.replace(s, rev=0))
        for sid, s in fold.sources.items()
        if s.status != "removed"
    ]
    if not threads:
        return (live,)
    titles = {t: v.title for t, v in fold.threads.items()}
    messages = [(m.id, m.thread, m.text) for m in fold.messages.values()]
    return live, titles, messages


def _fold(envelopes: list[Envelope]) -> ChapterFold:
    fold = ChapterFold("ch")
    for e in envelopes:
        fold.apply(e)
    return fold


# -- the generator -----------------------------------------------------------------------------

_source = st.sampled_from(SOURCES)
_text = st.sampled_from(sorted(TEXTS))
_tags = st.lists(st.sampled_from(["a", "b", "c"]), max_size=2)


@st.composite
def _edit(draw) -> SourceEdited:
    base, new = draw(_text), draw(_text)
    return SourceEdited(
        source=draw(_source),
        base_text=base,
        new_text=new,
        patch=rust_core.diff(TEXTS[base], TEXTS[new]),
    )


_event = st.one_of(
    st.builds(
        SourceAdded,
        source=_source,
        name=st.sampled_from(["a.pdf", "b.txt"]),
        media_type=st.just("text/plain"),
        blob=st.sampled_from(["b1", "b2"]),
        size=st.integers(1, 9),
        origin=st.sampled_from(["upload", "note"]),
        tags=_tags,
    ),
    st.builds(
        SourceExtracted,
        source=_source,
        text_blob=_text,
        extractor=st.just("text"),
        extractor_version=st.sampled_from(["1", "2"]),
        media_type=st.sampled_from(["", "text/x"]),
        chunk_count=st.integers(0, 3),
    ),
    st.builds(
        SourceRejected,
        source=_source,
        code=st.sampled_from(["corrupt", "empty"]),
        message=st.just("no"),
    ),
    _edit(),
    st.builds(SourceRetagged, source=_source, tags=_tags),
    st.builds(SourceRemoved, source=_source),
    st.builds(
        ThreadStarted, thread=st.sampled_from(["th1", "th2"]), title=st.sampled_from(["x", "y"])
    ),
    st.builds(
        MessagePosted,
        thread=st.sampled_from(["th1", "th2"]),
        message=st.sampled_from(["m1", "m2", "m3"]),
        role=st.just("user"),
        text=st.sampled_from(["q", "r"]),
    ),
    st.sampled_from(
        [
            ShareGranted(share="sh", mode="proxied", grantee="g@x.org"),
            ShareRevoked(share="sh"),
            HeadSigned(rev=1, head="00", key="k", signature="s"),
            MirrorSynced(rev=1, head="00"),
            ChapterRenamed(title="New"),
        ]
    ),
)

_log = st.lists(_event, max_size=40).map(
    lambda bodies: _envelopes([ChapterCreated(book="b", title="T"), *bodies])
)


def _existed_at(fold: ChapterFold):
    return lambda s: s in fold.sources and fold.sources[s].status != "removed"


# -- the properties ----------------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(log=_log, data=st.data(), threads=st.booleans())
def test_fold_at_a_plus_the_compacted_window_is_the_fold_at_w(log, data, threads):
    w = data.draw(st.integers(0, len(log)))
    a = data.draw(st.integers(0, w))
    at_a = _fold(log[:a])
    window = log[a:w]
    needed = texts_needed(window)

    def texts(h: str) -> str:
        assert h in needed  # the caller can fetch every text beforehand
        return TEXTS[h]

    batch = compact(window, texts=texts, threads=threads, existed=_existed_at(at_a))
    assert len(batch) <= len(window)

    mirror = _fold(log[:a])
    for e in _envelopes(batch, start=a + 1):
        mirror.apply(e)
    assert _view(mirror, threads) == _view(_fold(log[:w]), threads)


@settings(max_examples=200, deadline=None)
@given(log=_log, data=st.data())
def test_a_mirror_fed_only_compacted_batches_ends_where_the_owner_is(log, data):
    # Ticks at random watermarks; the relay's `existed` is "added at or before A".
    cuts = sorted(data.draw(st.lists(st.integers(0, len(log)), max_size=4)))
    marks = [0, *cuts, len(log)]
    mirror, rev = ChapterFold("mirror"), 0
    for a, w in itertools.pairwise(marks):
        first_added = {}
        for e in log[:a]:
            if isinstance(e.body, SourceAdded):
                first_added.setdefault(e.body.source, e.rev)
        batch = compact(
            log[a:w], texts=TEXTS.__getitem__, threads=True, existed=first_added.__contains__
        )
        for e in _envelopes(batch, start=rev + 1, chapter="mirror"):
            mirror.apply(e)
        rev += len(batch)
    assert _view(mirror, True) == _view(_fold(log), True)


@settings(max_examples=200, deadline=None)
@given(log=_log)
def test_a_snapshot_builds_the_state_from_nothing(log):
    batch = snapshot(log, texts=TEXTS.__getitem__, threads=True)
    assert len(batch) <= len(log)
    assert _view(_fold(_envelopes(batch)), True) == _view(_fold(log), True)


# -- the rules, one by one ---------------------------------------------------------------------


def _added(source: str = "s1", tags: list[str] | None = None) -> SourceAdded:
    return SourceAdded(
        source=source,
        name="a.txt",
        media_type="text/plain",
        blob="b" + source,
        size=3,
        tags=tags or [],
    )


def _edited(base: str, new: str) -> SourceEdited:
    return SourceEdited(
        source="s1", base_text=base, new_text=new, patch=rust_core.diff(TEXTS[base], TEXTS[new])
    )


def _extracted(text: str) -> SourceExtracted:
    return SourceExtracted(source="s1", text_blob=text, extractor="text", extractor_version="1")


def test_three_edits_become_one_whose_patch_gives_the_last_text_then_the_last_extraction():
    window = _envelopes(
        [
            _edited("t0", "t1"),
            _extracted("t1"),
            _edited("t1", "t2"),
            _extracted("t2"),
            _edited("t2", "t3"),
            _extracted("t3"),
        ],
        start=5,
    )
    assert texts_needed(window) == {"t0", "t3"}
    batch = compact(window, texts=TEXTS.__getitem__)
    assert [type(b) for b in batch] == [SourceEdited, SourceExtracted]
    edit, extraction = batch
    assert isinstance(edit, SourceEdited) and isinstance(extraction, SourceExtracted)
    assert (edit.base_text, edit.new_text) == ("t0", "t3")
    assert rust_core.patch(TEXTS["t0"], edit.patch) == TEXTS["t3"]
    assert extraction.text_blob == "t3"


def test_a_source_added_and_removed_inside_the_window_disappears():
    window = _envelopes([_added("s1"), _extracted("t1"), SourceRemoved(source="s1")], start=3)
    assert compact(window, texts=TEXTS.__getitem__) == []


def test_a_source_that_existed_and_was_removed_is_one_removal():
    window = _envelopes(
        [SourceRetagged(source="s1", tags=["x"]), _edited("t0", "t1"), SourceRemoved(source="s1")],
        start=3,
    )
    assert compact(window, texts=TEXTS.__getitem__) == [SourceRemoved(source="s1")]


def test_retags_collapse_to_the_last_and_into_the_add():
    retags = [SourceRetagged(source="s1", tags=t) for t in (["a"], ["b"], ["c", "d"])]
    assert compact(_envelopes(retags), texts=TEXTS.__getitem__) == [retags[-1]]
    batch = compact(_envelopes([_added("s1", ["z"]), *retags]), texts=TEXTS.__getitem__)
    assert batch == [_added("s1", ["c", "d"])]


def test_shares_heads_syncs_and_out_of_scope_events_are_dropped():
    window = _envelopes(
        [
            ShareGranted(share="sh", mode="proxied", grantee="g@x.org"),
            ShareRevoked(share="sh"),
            HeadSigned(rev=1, head="00", key="k", signature="s"),
            MirrorSynced(rev=1, head="00"),
            ChapterRenamed(title="x"),
            ThreadStarted(thread="th", title="t"),
            MessagePosted(thread="th", message="m", role="user", text="q"),
        ]
    )
    assert compact(window, texts=TEXTS.__getitem__) == []
    assert len(compact(window, texts=TEXTS.__getitem__, threads=True)) == 2


def test_blobs_of_names_what_a_guest_may_fetch():
    added = msgspec.structs.replace(_added("s1"), assets=["img"])
    assert blobs_of(added) == ["bs1", "img"]
    extracted = msgspec.structs.replace(_extracted("t1"), chunks_blob="cb")
    assert blobs_of(extracted) == ["t1", "cb"]
    assert blobs_of(_edited("t0", "t1")) == ["t0", "t1"]
    assert blobs_of(SourceRemoved(source="s1")) == []


def test_the_kept_extraction_keeps_the_newest_media_type_the_window_detected():
    # The fold keeps an earlier detected type over a later empty one; so must the batch.
    typed = msgspec.structs.replace(_extracted("t1"), media_type="text/markdown")
    log = _envelopes([_added("s1"), typed, _extracted("t2")])
    batch = snapshot(log, texts=TEXTS.__getitem__)
    assert [type(b) for b in batch] == [SourceAdded, SourceExtracted]
    assert _view(_fold(_envelopes(batch)), False) == _view(_fold(log), False)
    assert batch[1].text_blob == "t2" and batch[1].media_type == "text/markdown"
