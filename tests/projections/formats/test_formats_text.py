"""Plain text in its encodings, Markdown headings, CSV rows."""

import pytest

from projections.formats import Rejected, extract, location_at
from projections.formats.text import decode_text, markdown_sections

GREETING = "Grüße aus Köln — naïve café, 東京.\n"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32"])  # fmt: skip
def test_unicode_encodings_decode_exactly(encoding: str):
    result = extract(GREETING.encode(encoding), name="greeting.txt")

    assert result.text == GREETING
    assert result.media_type == "text/plain"


def test_legacy_western_text_decodes_as_cp1252():
    text = "Le garçon a mangé une pêche — à la crème brûlée.\n"

    assert extract(text.encode("cp1252"), name="menu.txt").text == text


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("Привет, как дела? Это обычный текст о погоде.\n", "cp1251"),
        ("Zażółć gęślą jaźń, to jest polski tekst o pogodzie.\n", "cp1250"),
        ("こんにちは、これは日本語のテキストです。\n", "shift_jis"),
    ],
)
def test_other_legacy_encodings_are_guessed(text: str, encoding: str):
    assert decode_text(text.encode(encoding))[0] == text


def test_utf8_with_a_stray_byte_stays_utf8():
    data = "Grüße ".encode() * 200 + b"\x92" + "über".encode()

    text, encoding = decode_text(data)

    assert encoding == "utf-8"
    assert text.endswith("\ufffdüber")


def test_newlines_are_normalised_and_nuls_dropped():
    assert decode_text(b"a\r\nb\rc\n")[0] == "a\nb\nc\n"
    assert decode_text("a\x00b".encode("utf-16"))[0] == "ab"


def test_text_with_control_characters_is_not_text():
    with pytest.raises(Rejected) as caught:
        extract(bytes(range(1, 32)) * 50, name="control.txt")

    assert caught.value.code == "unsupported"


def test_markdown_headings_become_sections():
    source = (
        "---\ntitle: front matter\n---\n"
        "Intro before any heading.\n\n"
        "# Guide #\n\nFirst part.\n\n"
        "```python\n# not a heading\n```\n\n"
        "Second Part\n===========\n\n"
        "Body of the second part.\n\n"
        "## Details\n\nDetail text.\n"
    )
    result = extract(source.encode(), name="guide.md")

    assert [s.heading for s in result.sections] == ["Guide", "Second Part", "Details"]
    assert location_at(result.sections, result.text.index("Intro")) == (None, None)
    assert location_at(result.sections, result.text.index("First part")) == (None, "Guide")
    assert location_at(result.sections, result.text.index("not a heading")) == (None, "Guide")
    assert location_at(result.sections, result.text.index("Body of")) == (None, "Second Part")
    assert location_at(result.sections, result.text.index("Detail text")) == (None, "Details")


def test_markdown_list_dashes_are_not_setext_headings():
    sections = markdown_sections("- item one\n---\n\nText\n")

    assert sections == []


def test_csv_rows_become_lines():
    data = b'name,remark,city\nAda,"Counts, carefully",London\n\n,,\nBob,"Says ""hi""",Paris\n'

    result = extract(data, name="people.csv")

    assert result.text == (
        'name | remark | city\nAda | Counts, carefully | London\nBob | Says "hi" | Paris'
    )


def test_semicolon_and_tab_separated_tables_are_read():
    semicolons = extract(b"a;b;c\n1;2;3\n4;5;6\n", name="eu.csv")
    tabs = extract(b"a\tb\n1\t2\n", name="t.tsv")

    assert semicolons.text == "a | b | c\n1 | 2 | 3\n4 | 5 | 6"
    assert tabs.text == "a | b\n1 | 2"
    assert tabs.media_type == "text/tab-separated-values"


def test_code_is_kept_verbatim():
    source = "def f(x):\n\treturn x  # keep indentation\n"

    assert extract(source.encode(), name="f.py").text == source
