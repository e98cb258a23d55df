"""rust_core.diff / rust_core.patch: exact round trips, compact patches, clean refusals."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rust_core

# Any text without lone surrogates (those cannot be UTF-8, so no stored text contains them).
texts = st.text(st.characters(exclude_categories=["Cs"]), max_size=300)
edit_alphabet = st.sampled_from(["a", "b", " ", "\n", "é", "日", "🎉", ".", "\r\n", "\x00"])


@st.composite
def text_and_edit(draw):
    """A random text and a version of it with a few random edits (insert, delete, replace)."""
    base = draw(texts)
    edited = base
    for _ in range(draw(st.integers(0, 5))):
        at = draw(st.integers(0, len(edited)))
        cut = draw(st.integers(0, min(5, len(edited) - at)))
        insert = "".join(draw(st.lists(edit_alphabet, max_size=6)))
        edited = edited[:at] + insert + edited[at + cut :]
    return base, edited


@given(texts, texts)
def test_round_trip_of_unrelated_texts(old, new):
    assert rust_core.patch(old, rust_core.diff(old, new)) == new


@given(text_and_edit())
def test_round_trip_of_edited_texts(pair):
    old, new = pair
    assert rust_core.patch(old, rust_core.diff(old, new)) == new


@settings(max_examples=30)
@given(
    st.lists(
        st.sampled_from(["alpha", "beta", "γάμμα", "\n", " ", ". ", "\n\n", "🎉"]), max_size=400
    ),
    st.data(),
)
def test_round_trip_of_structured_texts_with_line_edits(tokens, data):
    old = "".join(tokens)
    lines = old.split("\n")
    for _ in range(data.draw(st.integers(0, 4))):
        at = data.draw(st.integers(0, len(lines)))
        lines.insert(at, data.draw(texts))
    new = "\n".join(lines)
    assert rust_core.patch(old, rust_core.diff(old, new)) == new


def test_scattered_edits_in_a_large_text_give_a_small_exact_patch():
    rnd = random.Random(5)
    words = ["ledger", "river", "stone", "quiet", "answer", "chapter", "héllo", "北京"]
    paragraphs = [
        " ".join(rnd.choice(words) for _ in range(rnd.randint(20, 120))) + ".\n\n"
        for _ in range(600)
    ]
    old = "".join(paragraphs)
    tokens = old.split(" ")
    for _ in range(30):
        tokens[rnd.randrange(len(tokens))] = "EDITED"
    new = " ".join(tokens)
    p = rust_core.diff(old, new)
    assert rust_core.patch(old, p) == new
    # 30 word edits: a few bytes each plus the fixed header (two 32-byte hashes).
    assert len(p) < 600, len(p)


def test_identical_texts_give_a_header_and_one_copy():
    text = "same text\n" * 100
    p = rust_core.diff(text, text)
    assert rust_core.patch(text, p) == text
    assert len(p) < 80


def test_patch_to_the_wrong_base_is_refused():
    p = rust_core.diff("the original text", "the edited text")
    with pytest.raises(ValueError, match="patch does not apply: base text differs"):
        rust_core.patch("another text", p)
    with pytest.raises(rust_core.PatchError, match="base text differs"):
        rust_core.patch("the original texT", p)


@pytest.mark.parametrize(
    "garbage",
    [b"", b"RSD", b"RSD\x02" + bytes(80), b"\x00" * 100, b"not a patch at all", b"RSD\x01\xff"],
)
def test_garbage_patches_are_value_errors(garbage):
    with pytest.raises(ValueError, match="malformed patch"):
        rust_core.patch("", garbage)


@given(text_and_edit(), st.data())
def test_corrupted_patches_never_crash_and_never_lie(pair, data):
    # A corrupted patch either is refused, or (if the corruption missed everything that matters)
    # still yields exactly the new text: the recorded result hash rules out silent garbage.
    old, new = pair
    p = bytearray(rust_core.diff(old, new))
    at = data.draw(st.integers(0, len(p) - 1))
    p[at] ^= data.draw(st.integers(1, 255))
    cut = data.draw(st.integers(0, len(p)))
    for candidate in (bytes(p), bytes(p[:cut])):
        try:
            result = rust_core.patch(old, candidate)
        except ValueError:
            continue
        assert result == new


def test_patch_accepts_only_bytes_for_the_patch():
    p = rust_core.diff("a", "b")
    with pytest.raises(TypeError):
        rust_core.patch("a", p.decode("latin-1"))  # type: ignore[arg-type]


def test_texts_with_lone_surrogates_are_value_errors():
    with pytest.raises(ValueError):
        rust_core.diff("\ud800", "x")
