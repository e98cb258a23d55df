"""Spreadsheets and presentations: `.xlsx` and `.pptx` (Office Open XML), `.ods` and `.odp`
(OpenDocument), read from their XML with lxml (no entity resolution, no network).

One section per sheet, headed `Sheet: <name>`, its rows one line each (cells tab-separated); one
section per slide, on page = the slide's number, headed `Slide <n>: <title>`, its paragraphs in
order (text boxes and tables, then the speaker notes of a .pptx). The sheet's name or the slide
is what a citation of a passage names.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator

import lxml
from lxml import etree

from projections.formats.base import (
    FORMATS_VERSION,
    Extracted,
    Limits,
    Rejected,
    TextBuilder,
    open_zip,
)

__all__ = ["ODP", "ODS", "PPTX", "XLSX", "extract_sheets", "extract_slides"]

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
ODS = "application/vnd.oasis.opendocument.spreadsheet"
ODP = "application/vnd.oasis.opendocument.presentation"
VERSION = f"{FORMATS_VERSION}+lxml-{lxml.__version__}"

_MAX_REPEAT = 1_000
"""An OpenDocument cell or row repeated more than this is layout filler, not data."""
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
_R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_S = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_A = "{http://schemas.openxmlformats.org/drawingml/2006/main}"
_P = "{http://schemas.openxmlformats.org/presentationml/2006/main}"
_PKG = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
_TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
_DRAW = "{urn:oasis:names:tc:opendocument:xmlns:drawing:1.0}"
_OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
_WHAT = {XLSX: "Excel workbook", PPTX: "PowerPoint presentation",
         ODS: "OpenDocument spreadsheet", ODP: "OpenDocument presentation"}  # fmt: skip
"""What each type is called after "a damaged …"."""


class _Package:
    """A zip checked before anything is inflated, and its XML parts."""

    def __init__(self, data: bytes, name: str, what: str, limits: Limits) -> None:
        self.name, self.what = name, what
        self.zip = open_zip(data, name=name, what=what, limits=limits)
        self.names = set(self.zip.namelist())

    def xml(self, part: str) -> etree._Element | None:
        if part not in self.names:
            return None
        try:
            return etree.fromstring(self.zip.read(part), _PARSER)
        except etree.XMLSyntaxError as error:
            raise Rejected(
                "corrupt", f"{self.name} is a damaged {self.what}: bad XML in {part}"
            ) from error

    def related(self, part: str) -> dict[str, str]:
        """The targets of `part`'s relationships by id, as member names."""
        folder, base = posixpath.split(part)
        rels = self.xml(posixpath.join(folder, "_rels", base + ".rels"))
        found: dict[str, str] = {}
        for rel in [] if rels is None else rels.iter(f"{_PKG}Relationship"):
            target = rel.get("Target", "")
            path = target.lstrip("/") if target.startswith("/") else posixpath.normpath(
                posixpath.join(folder, target))  # fmt: skip
            found[rel.get("Id", "")] = path
        return found


def _texts(element: etree._Element, tag: str) -> str:
    return "".join(t.text or "" for t in element.iter(tag))


def _xlsx(package: _Package) -> Iterator[tuple[str, list[str]]]:
    workbook = package.xml("xl/workbook.xml")
    if workbook is None:
        raise Rejected("corrupt", f"{package.name} is a damaged Excel workbook: it has no workbook")
    shared_xml = package.xml("xl/sharedStrings.xml")
    shared = (
        [] if shared_xml is None else [_texts(si, f"{_S}t") for si in shared_xml.iter(f"{_S}si")]
    )
    targets = package.related("xl/workbook.xml")
    for sheet in workbook.iter(f"{_S}sheet"):
        part = targets.get(sheet.get(f"{{{_R}}}id", ""), "")
        root = package.xml(part) if part else None
        rows: list[str] = []
        for row in [] if root is None else root.iter(f"{_S}row"):
            cells = []
            for cell in row.iter(f"{_S}c"):
                kind, value = cell.get("t"), cell.find(f"{_S}v")
                if kind == "inlineStr":
                    text = _texts(cell, f"{_S}t")
                elif value is None or value.text is None:
                    text = ""
                elif kind == "s":
                    index = int(value.text) if value.text.isdigit() else -1
                    text = shared[index] if 0 <= index < len(shared) else ""
                elif kind == "b":
                    text = "TRUE" if value.text == "1" else "FALSE"
                else:
                    text = value.text
                cells.append(text.strip())
            line = "\t".join(cells).strip()
            if line:
                rows.append(line)
        yield sheet.get("name", "Sheet"), rows


def _pptx(package: _Package) -> Iterator[tuple[str, list[str]]]:
    presentation = package.xml("ppt/presentation.xml")
    if presentation is None:
        raise Rejected("corrupt", f"{package.name} is a damaged PowerPoint presentation")
    targets = package.related("ppt/presentation.xml")
    for slide_id in presentation.iter(f"{_P}sldId"):
        part = targets.get(slide_id.get(f"{{{_R}}}id", ""), "")
        root = package.xml(part) if part else None
        if root is None:
            continue
        title = ""
        for shape in root.iter(f"{_P}sp"):
            placeholder = shape.find(f"{_P}nvSpPr/{_P}nvPr/{_P}ph")
            if placeholder is not None and placeholder.get("type") in ("title", "ctrTitle"):
                title = " ".join(_texts(p, f"{_A}t") for p in shape.iter(f"{_A}p")).strip()
                break
        lines = [_texts(p, f"{_A}t").strip() for p in root.iter(f"{_A}p")]
        notes = next((t for t in package.related(part).values() if "notesSlide" in t), None)
        notes_root = package.xml(notes) if notes else None
        if notes_root is not None:
            lines += [_texts(p, f"{_A}t").strip() for p in notes_root.iter(f"{_A}p")]
        yield title, [line for line in lines if line]


def _repeat(element: etree._Element, attribute: str) -> int:
    value = element.get(f"{_TABLE}{attribute}", "1")
    return min(int(value), _MAX_REPEAT) if value.isdigit() else 1


def _ods(package: _Package) -> Iterator[tuple[str, list[str]]]:
    content = package.xml("content.xml")
    if content is None:
        raise Rejected("corrupt", f"{package.name} is a damaged OpenDocument spreadsheet")
    for table in content.iter(f"{_TABLE}table"):
        rows: list[str] = []
        for row in table.iter(f"{_TABLE}table-row"):
            cells: list[str] = []
            for cell in row:
                if cell.tag not in (f"{_TABLE}table-cell", f"{_TABLE}covered-table-cell"):
                    continue
                text = "\n".join("".join(p.itertext()) for p in cell.iter(f"{_TEXT}p")).strip()
                cells += [text] * (_repeat(cell, "number-columns-repeated") if text else 1)
            line = "\t".join(cells).strip()
            if line:
                rows += [line] * _repeat(row, "number-rows-repeated")
        yield table.get(f"{_TABLE}name", "Sheet"), rows


def _odp(package: _Package) -> Iterator[tuple[str, list[str]]]:
    content = package.xml("content.xml")
    if content is None:
        raise Rejected("corrupt", f"{package.name} is a damaged OpenDocument presentation")
    for page in content.iter(f"{_DRAW}page"):
        lines = ["".join(p.itertext()).strip() for p in page.iter(f"{_TEXT}p", f"{_TEXT}h")]
        lines = [line for line in lines if line]
        title = next(
            ("".join(frame.itertext()).strip() for frame in page.iter(f"{_DRAW}frame")
             if frame.get("{urn:oasis:names:tc:opendocument:xmlns:presentation:1.0}class")
             == "title"), "",
        )  # fmt: skip
        yield title, lines


def extract_sheets(data: bytes, *, name: str, media_type: str, limits: Limits) -> Extracted:
    """One section per sheet (its name the heading), one line per row."""
    package = _Package(data, name, _WHAT[media_type], limits)
    builder = TextBuilder(name, limits)
    for sheet, rows in _xlsx(package) if media_type == XLSX else _ods(package):
        if rows:
            builder.mark(heading=f"Sheet: {sheet}")
            builder.add(f"Sheet: {sheet}")
            builder.add("\n".join(rows))
    return builder.extracted(media_type=media_type, extractor="lxml", version=VERSION,
                             empty=f"{name} has no text in any sheet")  # fmt: skip


def extract_slides(data: bytes, *, name: str, media_type: str, limits: Limits) -> Extracted:
    """One section per slide (page = its number, heading `Slide n: title`)."""
    package = _Package(data, name, _WHAT[media_type], limits)
    builder = TextBuilder(name, limits)
    slides = _pptx(package) if media_type == PPTX else _odp(package)
    for number, (title, lines) in enumerate(slides, start=1):
        if lines:
            heading = f"Slide {number}: {title}" if title else f"Slide {number}"
            builder.mark(page=number, heading=heading)
            builder.add("\n".join(lines))
    return builder.extracted(media_type=media_type, extractor="lxml", version=VERSION,
                             empty=f"{name} has no text on any slide")  # fmt: skip
