"""The types every extractor shares, and the builder that keeps text and sections in step."""

import io
import zipfile
from typing import Literal

import msgspec

RejectCode = Literal["corrupt", "encrypted", "empty", "unsupported", "too_large"]


class Section(msgspec.Struct, frozen=True, kw_only=True):
    """Where a stretch of the text sits in the original; it holds until the next section starts."""

    start: int
    """Offset (a Python str index) in Extracted.text where this section begins."""
    page: int | None = None
    """1-based page of the original (PDF pages; DOCX pages where Word recorded its layout)."""
    heading: str | None = None
    """Text of the nearest heading above this point (DOCX heading styles, HTML h1-h6, Markdown #)."""


class Extracted(msgspec.Struct, frozen=True, kw_only=True):
    """The text of one source, and how it was obtained."""

    text: str
    """The whole text, newlines as \\n, blocks separated by blank lines."""
    media_type: str
    """The real media type, as read from the bytes (not the name's claim)."""
    extractor: str
    """What read it: a library (pypdf, python-docx, striprtf, lxml) or a Debian tool (catdoc, wpd2text)."""
    version: str
    """Our format code's version and the reader's: a change may change the text."""
    sections: list[Section] = []
    """Page and heading boundaries, sorted by start; empty when the format has neither."""


class Rejected(Exception):
    """A file we cannot take, with a machine code and a message a person understands."""

    def __init__(self, code: RejectCode, message: str) -> None:
        super().__init__(message)
        self.code: RejectCode = code
        self.message = message

    def __repr__(self) -> str:
        return f"Rejected({self.code!r}, {self.message!r})"


class Limits(msgspec.Struct, frozen=True, kw_only=True):
    """How much a single source may cost; past a limit the source is rejected as too large."""

    max_bytes: int = 100 * 2**20
    """Largest accepted input."""
    max_text_chars: int = 20_000_000
    """Largest extracted text; stops extraction early instead of building it all first."""
    max_pages: int = 5000
    """Most PDF pages read (hostile PDFs can be slow per page)."""
    max_unzipped_bytes: int = 500 * 2**20
    """Most bytes a zipped format (.docx) may inflate to: the zip-bomb guard."""


FORMATS_VERSION = "1"
"""Bump when our own shaping of the text changes (separators, table layout, section rules)."""


class TextBuilder:
    """Appends blocks of text with separators and records a Section whenever page or heading change."""

    def __init__(self, name: str, limits: Limits) -> None:
        self._name = name
        self._limit = limits.max_text_chars
        self._parts: list[str] = []
        self._length = 0
        self._page: int | None = None
        self._heading: str | None = None
        self._pending = False
        self.sections: list[Section] = []

    @property
    def length(self) -> int:
        return self._length

    def mark(self, *, page: int | None = None, heading: str | None = None) -> None:
        """Set the page and/or heading in force from the next block on."""
        if page is not None and page != self._page:
            self._page, self._pending = page, True
        if heading is not None and heading != self._heading:
            self._heading, self._pending = heading, True

    def add(self, block: str, sep: str = "\n\n") -> None:
        """Append one block (a paragraph, a page, a table row) after `sep`."""
        if not block:
            return
        if self._length:
            self._parts.append(sep)
            self._length += len(sep)
        if self._pending:
            section = Section(start=self._length, page=self._page, heading=self._heading)
            if self.sections and self.sections[-1].start == section.start:
                self.sections[-1] = section
            else:
                self.sections.append(section)
            self._pending = False
        self._parts.append(block)
        self._length += len(block)
        if self._length > self._limit:
            raise Rejected(
                "too_large",
                f"{self._name} holds more than {self._limit:,} characters of text, the limit for one source",
            )

    def text(self) -> str:
        return "".join(self._parts)

    def extracted(self, *, media_type: str, extractor: str, version: str, empty: str) -> Extracted:
        """The text built and its sections; Rejected("empty", `empty`) when it holds no text."""
        text = self.text()
        if not text.strip():
            raise Rejected("empty", empty)
        return Extracted(
            text=text,
            media_type=media_type,
            extractor=extractor,
            version=version,
            sections=self.sections,
        )


def check_text_size(text: str, name: str, limits: Limits) -> None:
    """Reject text past limits.max_text_chars (for extractors that get their text in one piece)."""
    if len(text) > limits.max_text_chars:
        raise Rejected(
            "too_large",
            f"{name} holds more than {limits.max_text_chars:,} characters of text, the limit for one source",
        )


MAX_ZIP_MEMBERS = 10_000
"""Parts one zip-based document (.docx, .xlsx, .pptx, .ods, .odp) may hold."""


def open_zip(data: bytes, *, name: str, what: str, limits: Limits) -> zipfile.ZipFile:
    """The zip of a document called a `what` (".. is a damaged <what>"), refused before anything
    is inflated when it is damaged, encrypted, or would expand past the limit.

    zipfile never inflates a member past the size its directory declares (it stops there and
    the CRC check fails), so bounding the declared sizes bounds what is actually read.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as error:
        raise Rejected("corrupt", f"{name} is a damaged {what}: {error}") from error
    if any(member.flag_bits & 0x1 for member in members):
        archive.close()
        raise Rejected("encrypted", f"{name} is an encrypted zip; we cannot open it")
    declared = sum(member.file_size for member in members)
    if len(members) > MAX_ZIP_MEMBERS or declared > limits.max_unzipped_bytes:
        archive.close()
        raise Rejected(
            "too_large",
            f"{name} would expand to {declared:,} bytes in {len(members):,} parts when unzipped; "
            f"the limit is {limits.max_unzipped_bytes:,} bytes (it may be a zip bomb)",
        )
    return archive
