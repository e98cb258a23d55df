"""rust_core.chunk_text: coverage, size limits, structure preference and re-synchronisation."""

import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rust_core

WORDS = [
    "ledger",
    "river",
    "stone",
    "quiet",
    "answer",
    "chapter",
    "hash",
    "north",
    "window",
    "amber",
    "signal",
    "garden",
    "copper",
    "lantern",
    "orbit",
    "meadow",
    "a",
    "the",
    "of",
    "to",
    "in",
    "is",
]

pieces = st.sampled_from(
    [
        "word",
        "other",
        " ",
        "  ",
        "\n",
        "\n\n",
        "\r\n",
        ". ",
        "? ",
        "! ",
        "é",
        "日本",
        "。",
        "🎉",
        "\t",
    ]
)
texts = st.lists(st.one_of(pieces, st.text(max_size=8)), max_size=300).map("".join)


@st.composite
def limits(draw):
    min_size = draw(st.integers(1, 40))
    max_size = draw(st.integers(2 * min_size, 2 * min_size + 100))
    target = draw(st.integers(min_size, max_size))
    return {"target": target, "min_size": min_size, "max_size": max_size}


def check_shape(text: str, spans: list[tuple[int, int]], sizes: dict[str, int]) -> None:
    if not text:
        assert spans == []
        return
    # Spans tile the text: they start at 0, end at len(text), and each starts where the last ended.
    assert spans[0][0] == 0
    assert spans[-1][1] == len(text)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))
    assert "".join(text[s:e] for s, e in spans) == text
    for i, (start, end) in enumerate(spans):
        assert end - start <= sizes["max_size"]
        if i < len(spans) - 1:
            assert end - start >= sizes["min_size"]
        else:
            assert end > start


@given(texts, limits())
def test_spans_tile_the_text_within_the_size_limits(text, sizes):
    check_shape(text, rust_core.chunk_text(text, **sizes), sizes)


@given(st.text(max_size=3000))
def test_default_limits_hold_for_any_text(text):
    sizes = {"target": 1000, "min_size": 200, "max_size": 2000}
    check_shape(text, rust_core.chunk_text(text), sizes)


def test_spans_count_code_points_not_bytes():
    text = ("é日🎉 " * 2000).strip()
    spans = rust_core.chunk_text(text, target=100, min_size=40, max_size=200)
    check_shape(text, spans, {"min_size": 40, "max_size": 200})
    assert spans[-1][1] == len(text)


def test_an_unbreakable_run_is_cut_hard_at_max_size():
    text = "x" * 4500
    spans = rust_core.chunk_text(text)
    assert spans[0] == (0, 2000)
    check_shape(text, spans, {"min_size": 200, "max_size": 2000})


def test_short_texts_are_one_chunk_and_empty_text_none():
    assert rust_core.chunk_text("") == []
    assert rust_core.chunk_text("A short note.") == [(0, 13)]


@pytest.mark.parametrize(
    "sizes",
    [
        {"min_size": 0},
        {"target": 100},
        {"target": 3000},
        {"max_size": 300},
        {"min_size": -5},
    ],
)
def test_inconsistent_limits_are_value_errors(sizes):
    with pytest.raises(ValueError, match="size"):
        rust_core.chunk_text("some text", **sizes)


def sentence(rnd: random.Random) -> str:
    return " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(4, 25))).capitalize() + "."


def paragraph(rnd: random.Random) -> str:
    return " ".join(sentence(rnd) for _ in range(rnd.randint(1, 10)))


def document(rnd: random.Random, size: int) -> list[str]:
    paragraphs: list[str] = []
    while sum(len(p) + 2 for p in paragraphs) < size:
        paragraphs.append(paragraph(rnd))
    return paragraphs


def chunk_texts(text: str) -> list[str]:
    return [text[s:e] for s, e in rust_core.chunk_text(text)]


def test_cuts_prefer_paragraph_breaks():
    text = "\n\n".join(document(random.Random(3), 100_000))
    chunks = chunk_texts(text)
    at_paragraph = sum(c.endswith("\n\n") for c in chunks[:-1])
    assert at_paragraph >= 0.9 * (len(chunks) - 1)


def edit_paragraph(rnd: random.Random, text: str, kind: str) -> str:
    words = text.split(" ")
    sentences = text.split(". ")
    if kind == "word":
        words[rnd.randrange(len(words))] = "EDITED"
        return " ".join(words)
    if kind == "insert sentence":
        sentences.insert(rnd.randrange(len(sentences) + 1), sentence(rnd)[:-1])
        return ". ".join(sentences)
    if kind == "delete sentence" and len(sentences) > 1:
        del sentences[rnd.randrange(len(sentences))]
        return ". ".join(sentences)
    if kind == "split":
        middle = len(words) // 2
        return " ".join(words[:middle]) + "\n\n" + " ".join(words[middle:])
    return paragraph(rnd)  # a rewrite


@settings(max_examples=25, deadline=None)
@given(
    st.integers(0, 2**32),
    st.sampled_from(["word", "insert sentence", "delete sentence", "split", "rewrite"]),
    st.integers(-20, 20),
)
def test_an_edit_in_one_paragraph_changes_at_most_three_chunks(seed, kind, offset):
    # A ~300 kB document; one paragraph near the middle is edited.
    rnd = random.Random(seed)
    paragraphs = document(rnd, 300_000)
    index = len(paragraphs) // 2 + offset
    edited = list(paragraphs)
    edited[index] = edit_paragraph(rnd, paragraphs[index], kind)
    before = chunk_texts("\n\n".join(paragraphs))
    after = chunk_texts("\n\n".join(edited))

    # Chunks before and after the edit keep their exact text: only a run in between differs.
    same_start = next(
        (i for i, (a, b) in enumerate(zip(before, after, strict=False)) if a != b),
        min(len(before), len(after)),
    )
    same_end = 0
    while (
        same_end < min(len(before), len(after)) - same_start
        and before[-1 - same_end] == after[-1 - same_end]
    ):
        same_end += 1
    assert len(after) - same_start - same_end <= 3
    assert len(before) - same_start - same_end <= 3
    assert same_start + same_end >= len(before) - 3 > 250
