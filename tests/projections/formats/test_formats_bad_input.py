"""The bad-input corpus: each file is rejected with the right code and a message a person understands."""

import tracemalloc
from collections.abc import Callable

import pytest

from projections.formats import Limits, Rejected, extract
from tests.projections.formats.corpus import (
    binary_junk,
    make_docx,
    make_lying_zip_docx,
    make_pdf,
    make_png,
    make_scanned_pdf,
    make_zip_bomb_docx,
    rewrite_pdf,
)


def rejection(data: bytes, name: str, **kwargs) -> Rejected:
    with pytest.raises(Rejected) as caught:
        extract(data, name=name, **kwargs)
    assert caught.value.message == str(caught.value)
    assert name in caught.value.message  # the person is told which file
    return caught.value


def _truncated_pdf() -> bytes:
    whole = make_pdf([["The first page."], ["The second page."]])
    return whole[: len(whole) // 2]


# Each bad file: what it is, its name, the limits, the code it gets, what its message must say.
# fmt: off
BAD_FILES = [
    pytest.param(_truncated_pdf, "cut.pdf", Limits(), "corrupt", ["truncated"], id="truncated-pdf"),
    pytest.param(lambda: b"%PDF-1.7\n" + binary_junk(2000) + b"\n%%EOF\n", "garbage.pdf", Limits(),
                 "corrupt", ["damaged PDF"], id="pdf-garbage-after-its-header"),
    pytest.param(lambda: rewrite_pdf(make_pdf([["Secret plans."]]), user_password="s3cret", owner_password="o"),
                 "locked.pdf", Limits(), "encrypted", ["password"], id="encrypted-pdf"),
    pytest.param(make_scanned_pdf, "scan.pdf", Limits(), "empty", ["no text layer"],
                 id="scanned-pdf-without-a-text-layer"),
    pytest.param(make_png, "holiday.docx", Limits(), "unsupported", ["not a Word document", "PNG image"],
                 id="docx-that-is-a-renamed-png"),
    pytest.param(lambda: make_lying_zip_docx(real_mib=64, part=b"word/document.xml"), "liar.docx",
                 Limits(), "corrupt", [], id="zip-whose-document-part-lies-about-its-size"),
    pytest.param(lambda: make_docx(heading="Small", sentence="A small document."), "small.docx",
                 Limits(max_unzipped_bytes=1000), "too_large", [],
                 id="zip-within-the-declared-limit-obeys-a-smaller-limit"),
    pytest.param(binary_junk, "notes.txt", Limits(), "unsupported", ["is not text"],
                 id="binary-junk-named-txt"),
    pytest.param(binary_junk, "blob.bin", Limits(), "unsupported", ["binary data"],
                 id="unknown-binary-with-an-unknown-name"),
    pytest.param(lambda: b"x" * 101, "big.txt", Limits(max_bytes=100), "too_large", ["limit"],
                 id="oversize-file-before-anything-is-read"),
    pytest.param(lambda: b"word " * 1000, "long.txt", Limits(max_text_chars=100), "too_large", [],
                 id="text-longer-than-the-text-limit"),
    pytest.param(lambda: make_pdf([["one"], ["two"], ["three"]]), "thick.pdf", Limits(max_pages=2),
                 "too_large", ["3 pages"], id="pdf-with-more-pages-than-allowed"),
]
# fmt: on


@pytest.mark.parametrize(("make", "name", "limits", "code", "says"), BAD_FILES)
def test_a_bad_file_is_rejected_with_its_code_and_a_message_saying_why(
    make: Callable[[], bytes], name: str, limits: Limits, code: str, says: list[str]
):
    rejected = rejection(make(), name, limits=limits)

    assert rejected.code == code
    for phrase in says:
        assert phrase in rejected.message


def test_png_under_its_own_name_is_unsupported_as_an_image():
    rejected = rejection(make_png(), "photo.png")

    assert rejected.code == "unsupported"
    assert rejected.message == "photo.png looks like a PNG image; images are not supported yet"


def test_zip_bomb_docx_is_too_large_without_expanding_it():
    bomb = make_zip_bomb_docx(gib=3)
    assert len(bomb) < 5 * 2**20  # a few MB that claim 3 GiB

    tracemalloc.start()
    try:
        rejected = rejection(bomb, "bomb.docx")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert rejected.code == "too_large"
    assert "zip bomb" in rejected.message
    assert peak < 40 * 2**20  # the 3 GiB were never inflated


def test_zip_part_that_lies_about_its_size_is_read_only_to_its_declared_size():
    # The directory says 2 KiB; the data would inflate to 1 GiB. Reading stops at 2 KiB.
    liar = make_lying_zip_docx(real_mib=1024)

    tracemalloc.start()
    try:
        result = extract(liar, name="liar.docx")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert "Nothing to see here." in result.text
    assert peak < 40 * 2**20


@pytest.mark.parametrize("data", [b"", b"   \n\t\r\n  "], ids=["zero-bytes", "whitespace"])
def test_empty_file_is_empty(data: bytes):
    rejected = rejection(data, "nothing.txt")

    assert rejected.code == "empty"


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"PK\x03\x04" + binary_junk(500), "broken.docx"),
        (bytes.fromhex("d0cf11e0a1b11ae1") + binary_junk(3000), "broken.doc"),
        (b"\xffWPC" + binary_junk(300), "broken.wpd"),
        (b"{\\rtf1 " + b"{" * 5000, "deep.rtf"),
        (b"<html>" + b"<div>" * 20000 + b"x", "deep.html"),
        (b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 1 0 R >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF", "loop.pdf"),
    ],
    ids=["docx", "doc", "wpd", "rtf", "html", "pdf"],
)  # fmt: skip
def test_hostile_files_give_rejected_never_a_library_exception(data: bytes, name: str):
    try:
        extract(data, name=name)
    except Rejected as rejected:
        assert rejected.code in ("corrupt", "unsupported", "empty", "encrypted")
        assert name in rejected.message
