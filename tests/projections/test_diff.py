"""Diffs between two revs of a chapter: pure comparisons of two audit folds and their texts."""

from events import (
    ChapterCreated,
    ChapterRenamed,
    Envelope,
    MessagePosted,
    SourceAdded,
    SourceExtracted,
    SourceRemoved,
    SourceRetagged,
    ThreadStarted,
    new_id,
)
from projections.audit import fold
from projections.diff import MAX_MESSAGES, diff_chapter, text_diff, texts_to_load

CHAPTER = "ch1"


def envelopes(bodies: list) -> list[Envelope]:
    return [
        Envelope(id=new_id(), chapter=CHAPTER, rev=n, at=1000 + n, actor="u1", body=b)
        for n, b in enumerate(bodies, start=1)
    ]


def added(source: str, name: str, tags: list[str] | None = None) -> SourceAdded:
    return SourceAdded(
        source=source, name=name, media_type="text/plain", blob="0" * 64, size=1,
        tags=tags or [],
    )  # fmt: skip


def extracted(source: str, text_blob: str) -> SourceExtracted:
    return SourceExtracted(
        source=source, text_blob=text_blob, extractor="text", extractor_version="1"
    )


OLD = "Owls nest on the tundra.\nThey hunt lemmings.\nBees dance.\n"
NEW = "Owls nest on the open tundra.\nThey hunt lemmings.\nBees dance.\nAnts march.\n"
LOG = envelopes(
    [
        ChapterCreated(book="b1", title="Notes"),
        added("s1", "animals.md", ["zoo"]),
        extracted("s1", "t-old"),
        added("s2", "gone.md"),
        added("s3", "tagged.md", ["a"]),
        # -- rev 5: the diff starts here
        extracted("s1", "t-new"),  # an edit, re-extracted
        SourceRemoved(source="s2"),
        SourceRetagged(source="s3", tags=["b", "a"]),
        added("s4", "new.md", ["fresh"]),
        ChapterRenamed(title="Field notes"),
        ThreadStarted(thread="t1", title="Q"),
        MessagePosted(thread="t1", message="m1", role="user", text="What  do owls\nhunt?"),
    ]
)


def test_a_diff_names_every_kind_of_change_between_two_revs():
    before, after = fold(CHAPTER, LOG[:5]), fold(CHAPTER, LOG)
    assert texts_to_load(before, after) == {"t-old", "t-new"}
    diff = diff_chapter(before, after, {"t-old": OLD, "t-new": NEW})

    assert (diff.from_rev, diff.to_rev) == (5, len(LOG))
    assert (diff.renamed.old, diff.renamed.new) == ("Notes", "Field notes")
    assert [(s.id, s.name, s.tags) for s in diff.sources_added] == [("s4", "new.md", ["fresh"])]
    assert [s.id for s in diff.sources_removed] == ["s2"]
    assert [(r.id, r.old, r.new) for r in diff.sources_retagged] == [("s3", ["a"], ["a", "b"])]
    [edit] = diff.sources_edited
    assert (edit.id, edit.old_text, edit.new_text) == ("s1", "t-old", "t-new")
    assert (edit.diff.added_lines, edit.diff.removed_lines, edit.diff.truncated) == (2, 1, False)
    assert "-Owls nest on the tundra." in edit.diff.unified
    assert "+Owls nest on the open tundra." in edit.diff.unified
    assert "+Ants march." in edit.diff.unified
    assert [(m.id, m.thread, m.role, m.snippet) for m in diff.messages_added] == [
        ("m1", "t1", "user", "What do owls hunt?")
    ]


def test_no_change_is_an_empty_diff_and_creation_is_not_a_rename():
    same = fold(CHAPTER, LOG)
    diff = diff_chapter(same, same, {})
    assert diff.renamed is None and diff.messages_added == [] and diff.sources_edited == []
    from_empty = diff_chapter(fold(CHAPTER, []), fold(CHAPTER, LOG[:3]), {})
    assert from_empty.renamed is None
    assert [s.id for s in from_empty.sources_added] == ["s1"]
    assert from_empty.sources_edited == []  # extracted for the first time is not an edit


def test_a_missing_text_is_noted_not_diffed():
    diff = diff_chapter(fold(CHAPTER, LOG[:5]), fold(CHAPTER, LOG), {"t-new": NEW})
    [edit] = diff.sources_edited
    assert edit.diff.truncated and "missing" in (edit.diff.note or "")


def test_a_large_text_diff_is_cut_with_a_note_and_counts_everything():
    old = "\n".join(f"line {i}" for i in range(1000))
    new = "\n".join(f"line {i} changed" for i in range(1000))
    diff = text_diff(old, new, max_lines=50)
    assert diff.truncated and len(diff.unified.splitlines()) == 50
    assert (diff.added_lines, diff.removed_lines) == (1000, 1000)
    assert diff.note is not None and "more diff lines not shown" in diff.note
    by_chars = text_diff(old, new, max_chars=300)
    assert by_chars.truncated and len(by_chars.unified) <= 300


def test_many_messages_are_listed_up_to_the_bound_and_the_rest_counted():
    posts = [
        MessagePosted(thread="t1", message=f"m{i}", role="user", text="hi")
        for i in range(MAX_MESSAGES + 5)
    ]
    log = envelopes([ChapterCreated(book="b1", title="Notes"), *posts])
    diff = diff_chapter(fold(CHAPTER, log[:1]), fold(CHAPTER, log), {})
    assert len(diff.messages_added) == MAX_MESSAGES and diff.messages_more == 5
