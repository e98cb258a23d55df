"""Text extraction for the ingest projection: the real type from the bytes, then the text.

Pure and blocking (run it in a worker thread or process): the only I/O is a Debian tool run on an
in-memory copy for .doc (catdoc) and .wpd (wpd2text). Every failure is a `Rejected` with a code
and a message for a person; no library exception escapes.

    extracted = extract(data, name="report.pdf")
    page, heading = location_at(extracted.sections, offset)
"""

import bisect
from collections.abc import Callable

from projections.formats import detect, html, office, pdf, sheets, text
from projections.formats.base import Extracted, Limits, RejectCode, Rejected, Section
from projections.formats.detect import describe, detect_type

__all__ = [
    "Extracted",
    "Limits",
    "RejectCode",
    "Rejected",
    "Section",
    "describe",
    "detect_type",
    "extract",
    "location_at",
]

Reader = Callable[..., Extracted]

_READERS: dict[str, Reader] = {
    detect.PDF: pdf.extract_pdf,
    detect.DOCX: office.extract_docx,
    detect.DOC: office.extract_doc,
    detect.RTF: office.extract_rtf,
    detect.WPD: office.extract_wpd,
    detect.HTML: html.extract_html,
    detect.XHTML: html.extract_html,
    detect.MARKDOWN: text.extract_markdown,
    detect.CSV: text.extract_csv,
    detect.TSV: text.extract_csv,
    sheets.XLSX: sheets.extract_sheets,
    sheets.ODS: sheets.extract_sheets,
    sheets.PPTX: sheets.extract_slides,
    sheets.ODP: sheets.extract_slides,
}

_CLAIMS: dict[str, str] = {
    detect.PDF: "a PDF",
    detect.DOCX: "a Word document (.docx)",
    detect.DOC: "a Word 97-2003 document (.doc)",
    detect.RTF: "an RTF document",
    detect.WPD: "a WordPerfect document",
    sheets.XLSX: "an Excel workbook (.xlsx)",
    sheets.ODS: "an OpenDocument spreadsheet (.ods)",
    sheets.PPTX: "a PowerPoint presentation (.pptx)",
    sheets.ODP: "an OpenDocument presentation (.odp)",
}


_DEFAULT_LIMITS = Limits()


def extract(
    data: bytes, *, name: str, declared_type: str | None = None, limits: Limits = _DEFAULT_LIMITS
) -> Extracted:
    """The text of one file, its real media type and its page/heading sections; raises Rejected."""
    if len(data) > limits.max_bytes:
        raise Rejected(
            "too_large",
            f"{name} is {len(data):,} bytes; the limit for one source is {limits.max_bytes:,} bytes",
        )
    if not data.strip():
        raise Rejected("empty", f"{name} is empty: it has no content")
    media_type = detect.UNKNOWN
    try:
        media_type = detect_type(data, name, declared_type)
        reader = _READERS.get(media_type)
        if reader is None and media_type in detect.TEXT_TYPES:
            reader = text.extract_plain
        if reader is None:
            raise _not_supported(name, media_type)
        result = reader(data, name=name, media_type=media_type, limits=limits)
    except Rejected:
        raise
    except MemoryError as error:
        raise Rejected("too_large", f"{name} needs more memory to read than we allow") from error
    except RecursionError as error:
        raise Rejected("corrupt", f"{name} is nested too deeply to read; it is probably damaged") from error  # fmt: skip
    except Exception as error:  # any library's failure on a hostile file becomes a clear rejection
        what = _CLAIMS.get(media_type) or describe(media_type)[0]
        detail = f"{type(error).__name__}: {error}"[:200]
        raise Rejected("corrupt", f"{name} could not be read as {what}: {detail}") from error
    if not result.text.strip():
        raise Rejected("empty", f"{name} has no text")
    if len(result.text) > limits.max_text_chars:
        raise Rejected(
            "too_large",
            f"{name} holds more than {limits.max_text_chars:,} characters of text, the limit for one source",
        )
    return result


def _not_supported(name: str, media_type: str) -> Rejected:
    if media_type == detect.ENCRYPTED_OFFICE:
        return Rejected(
            "encrypted",
            f"{name} is a password-protected Office document; remove the password and upload it again",
        )
    what, family = describe(media_type)
    claimed = detect.extension_type(name)
    if media_type == detect.UNKNOWN:
        if claimed in detect.TEXT_TYPES:
            return Rejected("unsupported", f"{name} is not text: its bytes are binary data")
        return Rejected(
            "unsupported",
            f"{name} is not text and not a document format we know (it looks like binary data)",
        )
    if claimed in _CLAIMS or claimed in detect.TEXT_TYPES:
        claim = _CLAIMS.get(claimed, "a text file")
        return Rejected(
            "unsupported",
            f"{name} is not {claim}: it is {what}, and {family} are not supported yet",
        )
    return Rejected("unsupported", f"{name} looks like {what}; {family} are not supported yet")


def location_at(sections: list[Section], offset: int) -> tuple[int | None, str | None]:
    """The (page, heading) in force at a text offset: those of the last section starting at or before it."""
    index = bisect.bisect_right(sections, offset, key=lambda section: section.start) - 1
    if index < 0:
        return None, None
    return sections[index].page, sections[index].heading
