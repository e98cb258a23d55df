"""PDF text with pypdf: one section per page (its 1-based number), headings from the outline."""

import io
import logging

import pypdf
from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError, PyPdfError

from projections.formats.base import FORMATS_VERSION, Extracted, Limits, Rejected, TextBuilder

VERSION = f"{FORMATS_VERSION}+pypdf-{pypdf.__version__}"
_MAX_OUTLINE_ITEMS = 10_000

# pypdf logs every repaired cross-reference at WARNING; for hostile uploads that is noise.
logging.getLogger("pypdf").setLevel(logging.ERROR)


def extract_pdf(data: bytes, *, name: str, media_type: str, limits: Limits) -> Extracted:
    # A file cut short loses its trailer; pypdf would guess its way to a partial text instead.
    if b"%%EOF" not in data[-4096:]:
        raise Rejected(
            "corrupt",
            f"{name} is a damaged or truncated PDF: its end-of-file marker is missing",
        )
    try:
        reader = pypdf.PdfReader(io.BytesIO(data), strict=False)
        _open(reader, name)
        count = len(reader.pages)
    except Rejected:
        raise
    except (FileNotDecryptedError, DependencyError) as error:
        raise Rejected("encrypted", f"{name} is an encrypted PDF that we cannot open") from error
    except (PdfReadError, PyPdfError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise Rejected("corrupt", f"{name} is a damaged PDF: {error}") from error
    if count == 0:
        raise Rejected("corrupt", f"{name} is a damaged PDF: it has no pages")
    if count > limits.max_pages:
        raise Rejected(
            "too_large",
            f"{name} has {count:,} pages; the limit for one source is {limits.max_pages:,}",
        )
    headings = _outline_headings(reader, count)
    builder = TextBuilder(name, limits)
    failed = 0
    for index in range(count):
        try:
            page_text = reader.pages[index].extract_text() or ""
        except Exception:  # hostile pages raise anything (IndexError, ZeroDivisionError, …)
            failed += 1  # one unreadable page should not cost the others
            continue
        builder.mark(page=index + 1, heading=headings[index])
        builder.add(_tidy(page_text))
    if failed == count:
        raise Rejected("corrupt", f"{name} is a damaged PDF: none of its pages could be read")
    return builder.extracted(
        media_type=media_type,
        extractor="pypdf",
        version=VERSION,
        empty=f"{name} has no text layer (it is probably a scanned image); "
        "reading text from images (OCR) is not supported yet",
    )


def _open(reader: pypdf.PdfReader, name: str) -> None:
    """Decrypt with the empty password (owner-only protection), or reject as encrypted."""
    if not reader.is_encrypted:
        return
    if reader.decrypt("") == pypdf.PasswordType.NOT_DECRYPTED:
        raise Rejected(
            "encrypted",
            f"{name} is a password-protected PDF; remove the password and upload it again",
        )


def _tidy(page_text: str) -> str:
    lines = (line.rstrip() for line in page_text.replace("\x00", "").splitlines())
    return "\n".join(lines).strip("\n")


def _outline_headings(reader: pypdf.PdfReader, count: int) -> list[str | None]:
    """For each page, the last outline (bookmark) title that starts on or before it."""
    starts: dict[int, str] = {}
    seen = 0
    stack: list[object] = []
    try:
        stack = list(reversed(reader.outline))
    except Exception:
        return [None] * count
    while stack and seen < _MAX_OUTLINE_ITEMS:
        item = stack.pop()
        seen += 1
        if isinstance(item, list):
            stack.extend(reversed(item))
            continue
        try:
            page = reader.get_destination_page_number(item)  # type: ignore[arg-type]
            title = str(getattr(item, "title", "") or "").strip()
        except Exception:  # hostile pages raise anything (IndexError, ZeroDivisionError, …)
            continue
        if title and 0 <= page < count:
            starts.setdefault(page, title)  # the first heading on a page is where the page starts
    headings: list[str | None] = []
    current: str | None = None
    for index in range(count):
        current = starts.get(index, current)
        headings.append(current)
    return headings
