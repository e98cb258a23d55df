"""Text in any encoding: plain text and every code or script file, Markdown with its headings, CSV.

Decoding order: a byte-order mark (UTF-8, UTF-16, UTF-32); strict UTF-8; UTF-8 with a handful of
stray bytes; charset-normalizer's best guess for legacy encodings (cp1252, Shift-JIS, …); cp1252
with replacement as the last resort. Bytes with control characters or NULs are not text at all.
"""

import codecs
import contextlib
import csv
import io
import re

import charset_normalizer

from projections.formats.base import (
    FORMATS_VERSION,
    Extracted,
    Limits,
    Rejected,
    Section,
    check_text_size,
)

_SAMPLE = 64 * 1024
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: its BOM starts the same way
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# C0 controls that never occur in text (tab, newlines, form feed, escape are fine), and DEL.
_CONTROL = bytes([*range(0, 9), 11, *range(14, 27), *range(28, 32), 127])
_CONTROL_TABLE = bytes.maketrans(_CONTROL, b"\x00" * len(_CONTROL))


def _bom(data: bytes) -> tuple[str, int] | None:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return encoding, len(bom)
    return None


def _utf16_without_bom(sample: bytes) -> str | None:
    """UTF-16 from tools that omit the BOM: NULs in every other byte of mostly-ASCII text."""
    if len(sample) < 8:
        return None
    even, odd = sample[0::2], sample[1::2]
    if odd.count(0) > 0.4 * len(odd) and even.count(0) < 0.05 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.4 * len(even) and odd.count(0) < 0.05 * len(odd):
        return "utf-16-be"
    return None


def _control_ratio(text: str) -> float:
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\n\r\f\v\x1b") + text.count(
        "\x7f"
    )
    return controls / max(1, len(text))


def looks_like_text(data: bytes) -> bool:
    """Whether the bytes are text in some encoding (judged on the first 64 KiB)."""
    sample = data[:_SAMPLE]
    if not sample:
        return True
    found = _bom(sample) or ((enc, 0) if (enc := _utf16_without_bom(sample)) else None)
    if found:
        encoding, skip = found
        decoded = sample[skip:].decode(encoding, errors="replace")
        return _control_ratio(decoded) < 0.01
    if b"\x00" in sample:
        return False
    # Any 8-bit encoding leaves the C0 controls alone, so their share tells text from binary.
    controls = sample.translate(_CONTROL_TABLE).count(0)
    return controls <= len(sample) * 0.003


def decode_text(data: bytes) -> tuple[str, str]:
    """The text and the encoding it was read with; newlines become \\n and NULs are dropped."""
    found = _bom(data[:4])
    if found:
        encoding, skip = found
        text = data[skip:].decode(encoding, errors="replace")
    elif encoding := _utf16_without_bom(data[:_SAMPLE]) or "":
        text = data.decode(encoding, errors="replace")
    else:
        text, encoding = _decode_unmarked(data)
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", ""), encoding


def _decode_unmarked(data: bytes) -> tuple[str, str]:
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    # Mostly UTF-8 with a few stray bytes (a pasted cp1252 quote) is still UTF-8.
    lenient = data.decode("utf-8", errors="replace")
    stray = lenient.count("\ufffd")
    if stray <= max(1, len(data) // 1000) and len(lenient) < len(data) - stray:
        return lenient, "utf-8"
    matches = charset_normalizer.from_bytes(_spread_sample(data))
    best = matches.best()
    if best is None or not best.encoding:
        return data.decode("cp1252", errors="replace"), "cp1252"
    # Short Western text fits several code pages equally well; the commonest one wins the tie.
    tied = {
        match.encoding
        for match in matches
        if match.chaos <= best.chaos and match.coherence >= best.coherence
    }
    encoding = "cp1252" if tied & {"cp1252", "latin_1", "iso8859_15", "ascii"} else best.encoding
    try:
        return data.decode(encoding, errors="replace"), encoding
    except LookupError:
        return data.decode("cp1252", errors="replace"), "cp1252"


def _spread_sample(data: bytes, piece: int = 128 * 1024) -> bytes:
    """Head, middle and tail of a large input: guessing on all of it costs seconds per 10 MB."""
    if len(data) <= 3 * piece:
        return data
    middle = len(data) // 2
    return b"\n".join((data[:piece], data[middle : middle + piece], data[-piece:]))


def _checked(data: bytes, name: str, limits: Limits) -> str:
    if not looks_like_text(data):
        raise Rejected("unsupported", f"{name} is not text: its bytes look like binary data")
    text, _ = decode_text(data)
    if _control_ratio(text[:_SAMPLE]) >= 0.01:
        raise Rejected("unsupported", f"{name} is not text: it holds control characters")
    if not text.strip():
        raise Rejected("empty", f"{name} is empty: it has no text")
    check_text_size(text, name, limits)
    return text


def extract_plain(data: bytes, *, name: str, media_type: str, limits: Limits) -> Extracted:
    """Plain text, source code, scripts, configuration: the text as it is."""
    text = _checked(data, name, limits)
    return Extracted(text=text, media_type=media_type, extractor="text", version=FORMATS_VERSION)


_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_SETEXT = re.compile(r"^ {0,3}(=+|-{3,})[ \t]*$")


def markdown_sections(text: str) -> list[Section]:
    """A section at every ATX (# Title) or setext (Title / =====) heading outside code fences."""
    sections: list[Section] = []
    fence: str | None = None
    offset = 0
    previous: tuple[int, str] | None = None  # the last plain line: a setext heading's text
    lines = text.split("\n")
    start_line = 0
    if lines and lines[0].strip() == "---":  # YAML front matter is not a heading
        for i in range(1, len(lines)):
            if lines[i].strip() in ("---", "..."):
                start_line = i + 1
                break
        offset = sum(len(line) + 1 for line in lines[:start_line])
    for line in lines[start_line:]:
        opener = _FENCE.match(line)
        if fence is not None:
            if opener and opener.group(1)[0] == fence[0] and len(opener.group(1)) >= len(fence):
                fence = None
        elif opener:
            fence, previous = opener.group(1), None
        elif atx := _ATX.match(line):
            title = (atx.group(2) or "").strip()
            if title:
                sections.append(Section(start=offset, heading=title))
            previous = None
        elif _SETEXT.match(line) and previous is not None:
            sections.append(Section(start=previous[0], heading=previous[1]))
            previous = None
        elif line.strip() and not line.lstrip().startswith(("-", "*", "+", ">", "|")):
            previous = (offset, line.strip())
        else:
            previous = None
        offset += len(line) + 1
    return sections


def extract_markdown(data: bytes, *, name: str, media_type: str, limits: Limits) -> Extracted:
    """Markdown kept as written (it reads well as is), with a section at every heading."""
    text = _checked(data, name, limits)
    return Extracted(
        text=text,
        media_type=media_type,
        extractor="markdown",
        version=FORMATS_VERSION,
        sections=markdown_sections(text),
    )


def extract_csv(data: bytes, *, name: str, media_type: str, limits: Limits) -> Extracted:
    """A table as lines: one row a line, cells joined by " | ", blank rows dropped."""
    text = _checked(data, name, limits)
    delimiter = "\t" if media_type == "text/tab-separated-values" else ","
    # Too regular or too irregular to guess: keep the format's own delimiter.
    with contextlib.suppress(csv.Error):
        delimiter = csv.Sniffer().sniff(text[:8192], delimiters=",;\t|").delimiter
    lines: list[str] = []
    try:
        for row in csv.reader(io.StringIO(text), delimiter=delimiter):
            cells = [cell.strip() for cell in row]
            if any(cells):
                lines.append(" | ".join(cells))
    except csv.Error:
        # Not parseable as CSV (an unbalanced quote, a giant field): the raw text still reads.
        return Extracted(
            text=text, media_type=media_type, extractor="csv-raw", version=FORMATS_VERSION
        )
    table = "\n".join(lines)
    if not table.strip():
        raise Rejected("empty", f"{name} is empty: its table has no cells")
    return Extracted(text=table, media_type=media_type, extractor="csv", version=FORMATS_VERSION)
