"""The bad-input corpus: each file is rejected with the right code and a message a person understands."""

import tracemalloc

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


def test_truncated_pdf_is_corrupt():
    whole = make_pdf([["The first page."], ["The second page."]])

    rejected = rejection(whole[: len(whole) // 2], "cut.pdf")

    assert rejected.code == "corrupt"
    assert "truncated" in rejected.message


def test_pdf_that_is_garbage_after_its_header_is_corrupt():
    rejected = rejection(b"%PDF-1.7\n" + binary_junk(2000) + b"\n%%EOF\n", "garbage.pdf")

    assert rejected.code == "corrupt"
    assert "damaged PDF" in rejected.message


def test_encrypted_pdf_is_rejected_as_encrypted():
    locked = rewrite_pdf(make_pdf([["Secret plans."]]), user_password="s3cret", owner_password="o")

    rejected = rejection(locked, "locked.pdf")

    assert rejected.code == "encrypted"
    assert "password" in rejected.message


def test_scanned_pdf_without_text_layer_is_empty():
    rejected = rejection(make_scanned_pdf(), "scan.pdf")

    assert rejected.code == "empty"
    assert "no text layer" in rejected.message


def test_docx_that_is_a_renamed_png_names_what_it_is():
    rejected = rejection(make_png(), "holiday.docx")

    assert rejected.code == "unsupported"
    assert "not a Word document" in rejected.message
    assert "PNG image" in rejected.message


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


def test_zip_whose_document_part_lies_about_its_size_is_corrupt():
    liar = make_lying_zip_docx(real_mib=64, part=b"word/document.xml")

    rejected = rejection(liar, "liar.docx")

    assert rejected.code == "corrupt"


def test_zip_bomb_within_the_declared_limit_still_obeys_a_smaller_limit():
    docx = make_docx(heading="Small", sentence="A small document.")

    rejected = rejection(docx, "small.docx", limits=Limits(max_unzipped_bytes=1000))

    assert rejected.code == "too_large"


@pytest.mark.parametrize("data", [b"", b"   \n\t\r\n  "], ids=["zero-bytes", "whitespace"])
def test_empty_file_is_empty(data: bytes):
    rejected = rejection(data, "nothing.txt")

    assert rejected.code == "empty"


def test_binary_junk_named_txt_is_not_text():
    rejected = rejection(binary_junk(), "notes.txt")

    assert rejected.code == "unsupported"
    assert "is not text" in rejected.message


def test_unknown_binary_with_unknown_name_is_unsupported():
    rejected = rejection(binary_junk(), "blob.bin")

    assert rejected.code == "unsupported"
    assert "binary data" in rejected.message


def test_oversize_file_is_too_large_before_anything_is_read():
    rejected = rejection(b"x" * 101, "big.txt", limits=Limits(max_bytes=100))

    assert rejected.code == "too_large"
    assert "limit" in rejected.message


def test_text_longer_than_the_text_limit_is_too_large():
    rejected = rejection(b"word " * 1000, "long.txt", limits=Limits(max_text_chars=100))

    assert rejected.code == "too_large"


def test_pdf_with_more_pages_than_allowed_is_too_large():
    pdf = make_pdf([["one"], ["two"], ["three"]])

    rejected = rejection(pdf, "thick.pdf", limits=Limits(max_pages=2))

    assert rejected.code == "too_large"
    assert "3 pages" in rejected.message


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
