"""Small but real .xlsx, .pptx, .ods and .odp files written by hand (zip + the XML parts a reader
needs), for the spreadsheet and presentation extractors."""

from __future__ import annotations

import io
import zipfile
from xml.sax.saxutils import escape

_R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG = "http://schemas.openxmlformats.org/package/2006/relationships"


def _zip(parts: dict[str, str], mimetype: str | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        if mimetype is not None:
            archive.writestr(zipfile.ZipInfo("mimetype"), mimetype)
        for name, text in parts.items():
            archive.writestr(name, text)
    return out.getvalue()


def _rels(targets: dict[str, str]) -> str:
    rows = "".join(f'<Relationship Id="{i}" Type="x" Target="{t}"/>' for i, t in targets.items())
    return f'<Relationships xmlns="{_PKG}">{rows}</Relationships>'


def make_xlsx(sheets: dict[str, list[list[str | int]]]) -> bytes:
    """A workbook: each sheet's rows; strings go to the shared strings, numbers stay inline."""
    s = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    shared: list[str] = []
    parts: dict[str, str] = {"[Content_Types].xml": "<Types/>"}
    entries, targets = [], {}
    for n, (name, rows) in enumerate(sheets.items(), start=1):
        entries.append(f'<sheet name="{escape(name)}" sheetId="{n}" r:id="rId{n}"/>')
        targets[f"rId{n}"] = f"worksheets/sheet{n}.xml"
        xml_rows = []
        for r, row in enumerate(rows, start=1):
            cells = []
            for value in row:
                if isinstance(value, int):
                    cells.append(f"<c><v>{value}</v></c>")
                else:
                    shared.append(value)
                    cells.append(f'<c t="s"><v>{len(shared) - 1}</v></c>')
            xml_rows.append(f'<row r="{r}">{"".join(cells)}</row>')
        parts[f"xl/worksheets/sheet{n}.xml"] = (
            f'<worksheet xmlns="{s}"><sheetData>{"".join(xml_rows)}</sheetData></worksheet>'
        )
    parts["xl/workbook.xml"] = (
        f'<workbook xmlns="{s}" xmlns:r="{_R}"><sheets>{"".join(entries)}</sheets></workbook>'
    )
    parts["xl/_rels/workbook.xml.rels"] = _rels(targets)
    strings = "".join(f"<si><t>{escape(v)}</t></si>" for v in shared)
    parts["xl/sharedStrings.xml"] = f'<sst xmlns="{s}">{strings}</sst>'
    return _zip(parts)


def make_pptx(slides: list[tuple[str, list[str]]]) -> bytes:
    """A presentation: each slide's title (a title placeholder) and body paragraphs."""
    p = "http://schemas.openxmlformats.org/presentationml/2006/main"
    a = "http://schemas.openxmlformats.org/drawingml/2006/main"
    parts: dict[str, str] = {"[Content_Types].xml": "<Types/>"}
    ids, targets = [], {}
    for n, (title, lines) in enumerate(slides, start=1):
        ids.append(f'<p:sldId id="{255 + n}" r:id="rId{n}"/>')
        targets[f"rId{n}"] = f"slides/slide{n}.xml"
        body = "".join(f"<a:p><a:r><a:t>{escape(line)}</a:t></a:r></a:p>" for line in lines)
        parts[f"ppt/slides/slide{n}.xml"] = (
            f'<p:sld xmlns:p="{p}" xmlns:a="{a}"><p:cSld><p:spTree>'
            f'<p:sp><p:nvSpPr><p:nvPr><p:ph type="title"/></p:nvPr></p:nvSpPr>'
            f"<p:txBody><a:p><a:r><a:t>{escape(title)}</a:t></a:r></a:p></p:txBody></p:sp>"
            f"<p:sp><p:nvSpPr><p:nvPr/></p:nvSpPr><p:txBody>{body}</p:txBody></p:sp>"
            f"</p:spTree></p:cSld></p:sld>"
        )
    parts["ppt/presentation.xml"] = (
        f'<p:presentation xmlns:p="{p}" xmlns:r="{_R}"><p:sldIdLst>{"".join(ids)}'
        f"</p:sldIdLst></p:presentation>"
    )
    parts["ppt/_rels/presentation.xml.rels"] = _rels(targets)
    return _zip(parts)


_ODF = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" '
    'xmlns:presentation="urn:oasis:names:tc:opendocument:xmlns:presentation:1.0"'
)


def make_ods(sheets: dict[str, list[list[str]]]) -> bytes:
    tables = []
    for name, rows in sheets.items():
        xml_rows = "".join(
            "<table:table-row>"
            + "".join(
                f"<table:table-cell><text:p>{escape(c)}</text:p></table:table-cell>" for c in row
            )
            + '<table:table-cell table:number-columns-repeated="1000"/></table:table-row>'
            for row in rows
        )
        tables.append(f'<table:table table:name="{escape(name)}">{xml_rows}</table:table>')
    content = (f"<office:document-content {_ODF}><office:body><office:spreadsheet>"
               f"{''.join(tables)}</office:spreadsheet></office:body></office:document-content>")  # fmt: skip
    return _zip({"content.xml": content}, "application/vnd.oasis.opendocument.spreadsheet")


def make_odp(slides: list[tuple[str, list[str]]]) -> bytes:
    pages = []
    for n, (title, lines) in enumerate(slides, start=1):
        body = "".join(f"<text:p>{escape(line)}</text:p>" for line in lines)
        pages.append(
            f'<draw:page draw:name="page{n}">'
            f'<draw:frame presentation:class="title"><draw:text-box><text:p>{escape(title)}'
            f"</text:p></draw:text-box></draw:frame>"
            f"<draw:frame><draw:text-box>{body}</draw:text-box></draw:frame></draw:page>"
        )
    content = (f"<office:document-content {_ODF}><office:body><office:presentation>"
               f"{''.join(pages)}</office:presentation></office:body></office:document-content>")  # fmt: skip
    return _zip({"content.xml": content}, "application/vnd.oasis.opendocument.presentation")
