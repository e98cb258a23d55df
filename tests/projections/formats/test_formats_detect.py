"""detect_type: magic numbers, zip members and OLE2 streams decide; the name only picks a kind of text."""

import io
import zipfile

import pytest

from projections.formats import detect_type
from projections.formats.detect import DOCX, TEXT_TYPES
from tests.projections.formats.corpus import FIXTURES, binary_junk, make_docx, make_pdf, make_png


def zip_with(*names: str, mimetype: str | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        if mimetype:
            archive.writestr("mimetype", mimetype)
        for name in names:
            archive.writestr(name, "<x/>")
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (make_png(), "image/png"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(100), "image/jpeg"),
        (b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "image/gif"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 " + bytes(40), "image/webp"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(40), "audio/wav"),
        (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00" + bytes(40), "video/mp4"),
        (b"\x1f\x8b\x08\x00" + bytes(40), "application/gzip"),
        (b"\x7fELF\x02\x01\x01\x00" + bytes(60), "application/x-executable"),
        (b"MZ\x90\x00\x03\x00\x00\x00" + bytes(60), "application/vnd.microsoft.portable-executable"),
        (b"SQLite format 3\x00" + bytes(84), "application/vnd.sqlite3"),
        (zip_with("xl/workbook.xml"), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        (zip_with("ppt/presentation.xml"), "application/vnd.openxmlformats-officedocument.presentationml.presentation"),
        (zip_with("content.xml", mimetype="application/vnd.oasis.opendocument.text"), "application/vnd.oasis.opendocument.text"),
        (zip_with("a.txt"), "application/zip"),
        (binary_junk(), "application/octet-stream"),
    ],
    ids=["png", "jpeg", "gif", "webp", "wav", "mp4", "gzip", "elf", "exe", "sqlite", "xlsx", "pptx", "odt", "zip", "junk"],
)  # fmt: skip
def test_binary_kinds_are_named_from_their_bytes(data: bytes, expected: str):
    assert detect_type(data, "upload.docx") == expected


def test_documents_are_recognised_whatever_their_name():
    assert detect_type(make_pdf([["x"]]), "a.txt") == "application/pdf"
    assert detect_type(make_docx(heading="h", sentence="s"), "a.bin") == DOCX
    assert detect_type((FIXTURES / "legacy.doc").read_bytes(), "a") == "application/msword"
    assert detect_type((FIXTURES / "report.wpd").read_bytes(), "a") == "application/vnd.wordperfect"
    assert detect_type(b"\xef\xbb\xbf{\\rtf1 hello}", "a.txt") == "application/rtf"


def test_pdf_with_junk_before_its_header_is_still_a_pdf():
    assert detect_type(b"garbage\n" + make_pdf([["x"]]), "a") == "application/pdf"


def test_a_note_quoting_a_pdf_header_is_text():
    assert (
        detect_type(b"Files start with %PDF-1.7 and end with a trailer.", "n.md") == "text/markdown"
    )


def test_broken_zip_named_docx_is_treated_as_a_damaged_word_document():
    assert detect_type(b"PK\x03\x04" + binary_junk(100), "report.docx") == DOCX
    assert detect_type(b"PK\x03\x04" + binary_junk(100), "archive.zip") == "application/zip"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.txt", "text/plain"),
        ("a.md", "text/markdown"),
        ("a.csv", "text/csv"),
        ("a.tsv", "text/tab-separated-values"),
        ("a.html", "text/html"),
        ("a.HTM", "text/html"),
        ("a.xhtml", "application/xhtml+xml"),
        ("a.py", "text/x-python"),
        ("dir/Dockerfile", "text/x-dockerfile"),
        ("a.unknown", "text/plain"),
        ("no-extension", "text/plain"),
    ],
)
def test_the_name_chooses_among_kinds_of_text(name: str, expected: str):
    assert detect_type(b"just some words\n", name) == expected


def test_the_declared_type_helps_when_the_name_does_not():
    assert detect_type(b"# Title\n", "upload", "text/markdown; charset=utf-8") == "text/markdown"
    # A declared type never overrides the bytes: a PNG declared as text is a PNG.
    assert detect_type(make_png(), "upload", "text/plain") == "image/png"
    # Nor the name: a name that says Markdown beats a declared CSV.
    assert detect_type(b"# Title\n", "a.md", "text/csv") == "text/markdown"


def test_unnamed_html_and_xhtml_are_sniffed():
    assert detect_type(b"<!DOCTYPE html><html><body>x</body></html>", "page") == "text/html"
    xhtml = b'<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><body/></html>'
    assert detect_type(xhtml, "page") == "application/xhtml+xml"


def test_text_that_happens_to_start_like_a_magic_number_is_text():
    assert detect_type(b"MZ is the ISO code of Mozambique.\n", "a.txt") == "text/plain"
    assert detect_type(b"ID3 tags describe songs.\n", "notes") == "text/plain"


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-le", "utf-32", "cp1252"])
def test_text_in_any_common_encoding_is_text(encoding: str):
    data = "Grüße aus Köln, naïve café — text.\n".encode(encoding)

    assert detect_type(data, "greeting.txt") == "text/plain"


def test_every_text_type_is_a_known_text_type():
    assert {"text/plain", "text/markdown", "text/csv", "text/html", "text/x-python"} <= TEXT_TYPES


def test_damaged_ole2_file_is_a_damaged_word_document_only_when_named_so():
    broken = bytes.fromhex("d0cf11e0a1b11ae1") + binary_junk(1000)

    assert detect_type(broken, "old.doc") == "application/msword"
    assert detect_type(broken, "old.xls") == "application/x-ole-storage"
