"""DOCX (python-docx), DOC (catdoc), WPD (wpd2text), RTF (striprtf): text, structure, bad files."""

import io
import struct

import docx
import pytest
from docx.enum.text import WD_BREAK
from msoffcrypto.format.ooxml import OOXMLFile

from projections.formats import Rejected, extract, location_at
from tests.projections.formats.corpus import FIXTURES, make_docx
from tests.requirements import require_tool

DOC = (FIXTURES / "legacy.doc").read_bytes()
WPD = (FIXTURES / "report.wpd").read_bytes()


def rejection(data: bytes, name: str) -> Rejected:
    with pytest.raises(Rejected) as caught:
        extract(data, name=name)
    return caught.value


# --- .docx ---


def test_docx_keeps_order_headings_and_tables():
    data = make_docx(heading="Findings", sentence="Bees prefer blue flowers.", table_sentence="Cell text counts.")  # fmt: skip

    result = extract(data, name="study.docx")

    assert result.text == (
        "Preface\n\nThis document was written by the test suite.\n\n"
        "Findings\n\nBees prefer blue flowers.\n\n"
        "Key | Value\nnote | Cell text counts."
    )
    assert location_at(result.sections, 0) == (None, "Preface")
    assert location_at(result.sections, result.text.index("Bees")) == (None, "Findings")
    assert location_at(result.sections, result.text.index("Cell text")) == (None, "Findings")


def test_docx_pages_follow_words_recorded_layout():
    data = make_docx(heading="Later", sentence="This sits on page two.", rendered_page_before_sentence=True)  # fmt: skip

    result = extract(data, name="paged.docx")

    assert location_at(result.sections, result.text.index("Preface")) == (1, "Preface")
    assert location_at(result.sections, result.text.index("This sits")) == (2, "Later")


def test_docx_without_recorded_layout_claims_no_pages():
    document = docx.Document()
    document.add_paragraph("Page one text.")
    document.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
    document.add_paragraph("After a hard page break.")
    out = io.BytesIO()
    document.save(out)

    result = extract(out.getvalue(), name="hard-breaks.docx")

    assert result.text == "Page one text.\n\nAfter a hard page break."
    assert all(section.page is None for section in result.sections)


def test_docx_custom_style_based_on_a_heading_is_a_heading():
    document = docx.Document()
    custom = document.styles.add_style("Chapter Title", docx.enum.style.WD_STYLE_TYPE.PARAGRAPH)
    custom.base_style = document.styles["Heading 1"]
    document.add_paragraph("Chapter One", style="Chapter Title")
    document.add_paragraph("It was a quiet morning.")
    out = io.BytesIO()
    document.save(out)

    result = extract(out.getvalue(), name="novel.docx")

    assert location_at(result.sections, result.text.index("It was")) == (None, "Chapter One")


def test_docx_nested_table_and_merged_cells_are_read_once():
    document = docx.Document()
    table = document.add_table(rows=1, cols=2)
    table.cell(0, 0).text = "outer"
    inner = table.cell(0, 1).add_table(rows=1, cols=1)
    inner.cell(0, 0).text = "inner value"
    out = io.BytesIO()
    document.save(out)

    result = extract(out.getvalue(), name="nested.docx")

    assert result.text.count("inner value") == 1
    assert "outer" in result.text


def test_empty_docx_is_empty():
    out = io.BytesIO()
    docx.Document().save(out)

    assert rejection(out.getvalue(), "blank.docx").code == "empty"


def test_password_protected_docx_is_encrypted():
    out = io.BytesIO()
    OOXMLFile(io.BytesIO(make_docx(heading="H", sentence="Secret."))).encrypt("pw", out)

    rejected = rejection(out.getvalue(), "locked.docx")

    assert rejected.code == "encrypted"
    assert "password" in rejected.message


# --- .doc ---


def test_doc_text_tables_and_unicode():
    require_tool("catdoc", package="catdoc")

    result = extract(DOC, name="legacy.doc")

    assert result.extractor == "catdoc"
    assert result.version.startswith("1+catdoc-")
    assert result.text.startswith("Migration Notes\n\n")
    assert "Region\tOwner\n\nNorth\tIngrid Halvorsen" in result.text
    assert "Ünïcödé survives: café, naïve, 東京." in result.text


def test_password_protected_doc_is_encrypted():
    # Set FIB.fEncrypted in the WordDocument stream, which starts at a sector with 0xA5EC.
    fib = next(at for at in range(512, len(DOC), 512) if DOC[at : at + 2] == b"\xec\xa5")
    locked = bytearray(DOC)
    locked[fib + 11] |= 0x01

    rejected = rejection(bytes(locked), "locked.doc")

    assert rejected.code == "encrypted"


def test_truncated_doc_is_corrupt():
    rejected = rejection(DOC[:9000], "cut.doc")

    assert rejected.code == "corrupt"
    assert "damaged Word 97-2003 document" in rejected.message


# --- .wpd ---


def test_wpd_text_with_formatting_codes_removed():
    require_tool("wpd2text", package="libwpd-tools")

    result = extract(WPD, name="report.wpd")

    assert result.extractor == "wpd2text"
    assert result.text == (
        "Quarterly Report\n\nThe heron nests by the old mill pond.\n\n"
        "Page two says the ledger balances."
    )


def test_password_protected_wpd_is_encrypted():
    locked = WPD[:12] + struct.pack("<H", 0x1234) + WPD[14:]

    assert rejection(locked, "locked.wpd").code == "encrypted"


def test_wordperfect_graphic_is_not_a_document():
    graphic = WPD[:9] + b"\x16" + WPD[10:]

    rejected = rejection(graphic, "chart.wpg")

    assert rejected.code == "unsupported"
    assert "not a document" in rejected.message


def test_wpd_with_unknown_version_is_corrupt():
    require_tool("wpd2text", package="libwpd-tools")  # wpd2text is what finds it corrupt
    odd = WPD[:10] + b"\x07" + WPD[11:]  # major version 7 does not exist

    assert rejection(odd, "odd.wpd").code == "corrupt"


# --- .doc and .wpd on a server without the Debian tools ---


@pytest.mark.parametrize(
    ("data", "name", "program", "package"),
    [(DOC, "legacy.doc", "catdoc", "catdoc"), (WPD, "report.wpd", "wpd2text", "libwpd-tools")],
    ids=["doc", "wpd"],
)
def test_a_missing_tool_is_unsupported_and_names_its_package(
    data, name, program, package, tmp_path, monkeypatch
):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no program is found

    rejected = rejection(data, name)

    assert rejected.code == "unsupported"
    assert f"'{program}'" in rejected.message and f"Debian package {package}" in rejected.message


# --- .rtf ---


def test_rtf_code_pages_and_unicode_escapes():
    data = (
        rb"{\rtf1\ansi\ansicpg1252\uc1{\fonttbl{\f0 Arial;}}"
        rb"{\*\generator Test;}\f0 Na\'efve caf\'e9\par Tokyo: \u26481?\u20140?\par"
        rb"{\pict\pngblip 89504e470d0a}\par}"
    )

    result = extract(data, name="note.rtf")

    assert result.text == "Naïve café\n\nTokyo: 東京"


def test_empty_rtf_is_empty():
    assert rejection(rb"{\rtf1\ansi{\fonttbl{\f0 Arial;}}\par}", "blank.rtf").code == "empty"
