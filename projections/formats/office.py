"""Word processor files: .docx (python-docx), .doc (catdoc), .rtf (striprtf), .wpd (libwpd's wpd2text).

.doc and .wpd have no maintained Python reader, so Debian's tools read them. The bytes reach the
tool through an anonymous in-memory file (memfd), so nothing is written to disk.
"""

import functools
import io
import os
import re
import struct
import subprocess
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager

import docx
import olefile
from docx.opc.exceptions import PackageNotFoundError
from docx.oxml.ns import qn
from lxml import etree
from striprtf.striprtf import rtf_to_text

from projections.formats.base import (
    FORMATS_VERSION,
    Extracted,
    Limits,
    Rejected,
    TextBuilder,
    check_text_size,
    open_zip,
)

_TOOL_TIMEOUT_S = 120

# --- .docx ---

_P, _TBL, _TR, _TC, _SDT, _SDT_CONTENT = (qn(t) for t in ("w:p", "w:tbl", "w:tr", "w:tc", "w:sdt", "w:sdtContent"))  # fmt: skip
_T, _TAB, _BR, _CR, _HYPHEN = (qn(t) for t in ("w:t", "w:tab", "w:br", "w:cr", "w:noBreakHyphen"))  # fmt: skip
_RENDERED_BREAK, _TXBX, _TYPE, _VAL = (qn(t) for t in ("w:lastRenderedPageBreak", "w:txbxContent", "w:type", "w:val"))  # fmt: skip
_SKIPPED = frozenset(
    {
        qn(t)
        for t in ("w:del", "w:delText", "w:instrText", "w:rPr", "w:pPr", "w:sectPr", "w:moveFrom")
    }
    | {"{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"}
)  # deleted text, field codes, formatting, and the duplicate drawing kept for old readers


def _paragraph_text(p: etree._Element, boxes: list[etree._Element]) -> tuple[str, int, int]:
    """The paragraph's text, and Word's rendered page breaks before and after its first text."""
    out: list[str] = []
    breaks = [0, 0]

    def walk(element: etree._Element) -> None:
        for child in element:
            tag = child.tag
            if tag == _T:
                out.append(child.text or "")
            elif tag == _TAB:
                out.append("\t")
            elif tag in (_BR, _CR):
                out.append("\n")
            elif tag == _HYPHEN:
                out.append("-")
            elif tag == _RENDERED_BREAK:
                breaks[1 if any(out) else 0] += 1
            elif tag == _TXBX:
                boxes.append(child)  # a text box: its paragraphs follow this one
            elif tag not in _SKIPPED:
                walk(child)

    walk(p)
    return "".join(out).strip(), breaks[0], breaks[1]


class _DocxWalker:
    def __init__(self, builder: TextBuilder, headings: dict[str, bool], paged: bool) -> None:
        self.builder = builder
        self.headings = headings
        self.page = 1 if paged else None
        if paged:
            builder.mark(page=1)

    def _turn(self, count: int) -> None:
        if self.page is not None and count:
            self.page += count
            self.builder.mark(page=self.page)

    def blocks(self, container: etree._Element) -> None:
        for child in container:
            if child.tag == _P:
                self.paragraph(child)
            elif child.tag == _TBL:
                self.table(child)
            elif child.tag == _SDT:
                content = child.find(_SDT_CONTENT)
                if content is not None:
                    self.blocks(content)
            elif child.tag not in _SKIPPED:
                self.blocks(child)  # w:customXml, w:ins and other wrappers of blocks

    def paragraph(self, p: etree._Element) -> None:
        boxes: list[etree._Element] = []
        text, before, after = _paragraph_text(p, boxes)
        self._turn(before)
        if text and self._is_heading(p):
            self.builder.mark(heading=" ".join(text.split()))
        self.builder.add(text)
        self._turn(after)
        for box in boxes:
            self.blocks(box)

    def table(self, tbl: etree._Element) -> None:
        rows: list[str] = []
        for tr in tbl.iter(_TR):
            if tr.getparent() is not tbl:
                continue  # a nested table's rows are read inside their cell
            cells = []
            for tc in tr.iter(_TC):
                if tc.getparent() is tr:
                    cells.append(self._cell_text(tc))
            if any(cells):
                rows.append(" | ".join(cells))
        self.builder.add("\n".join(rows))

    def _cell_text(self, tc: etree._Element) -> str:
        parts: list[str] = []
        for p in tc.iter(_P):
            boxes: list[etree._Element] = []
            text, before, after = _paragraph_text(p, boxes)
            self._turn(before + after)
            if text:
                parts.append(text)
        return " ".join(" ".join(parts).split())

    def _is_heading(self, p: etree._Element) -> bool:
        ppr = p.find(qn("w:pPr"))
        if ppr is None:
            return False
        level = ppr.find(qn("w:outlineLvl"))
        if level is not None and level.get(_VAL, "9") != "9":
            return True
        style = ppr.find(qn("w:pStyle"))
        return style is not None and self.headings.get(style.get(_VAL, ""), False)


def _heading_styles(document: docx.document.Document) -> dict[str, bool]:
    """Paragraph style id -> whether it is a heading (Heading n, Title, an outline level, or based on one)."""
    own: dict[str, bool] = {}
    based_on: dict[str, str] = {}
    for style in document.styles.element.iter(qn("w:style")):
        style_id = style.get(qn("w:styleId"), "")
        name_el = style.find(qn("w:name"))
        name = (name_el.get(_VAL, "") if name_el is not None else "").lower()
        level = style.find(f"{qn('w:pPr')}/{qn('w:outlineLvl')}")
        own[style_id] = (
            name.startswith("heading")
            or name == "title"
            or (level is not None and level.get(_VAL, "9") != "9")
        )
        parent = style.find(qn("w:basedOn"))
        if parent is not None:
            based_on[style_id] = parent.get(_VAL, "")
    resolved: dict[str, bool] = {}
    for style_id in own:
        current, hops = style_id, 0
        while current and not own.get(current, False) and hops < 10:
            current, hops = based_on.get(current, ""), hops + 1
        resolved[style_id] = bool(current) and own.get(current, False)
    return resolved


def extract_docx(data: bytes, *, name: str, media_type: str, limits: Limits) -> Extracted:
    """Body paragraphs and tables in order, text boxes, then footnotes and endnotes."""
    open_zip(data, name=name, what="Word document", limits=limits).close()
    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as error:
        raise Rejected("corrupt", f"{name} is a damaged Word document: {error}") from error
    except etree.XMLSyntaxError as error:
        raise Rejected(
            "corrupt", f"{name} is a damaged Word document: bad XML ({error})"
        ) from error
    body = document.element.body
    paged = next(body.iter(_RENDERED_BREAK), None) is not None
    builder = TextBuilder(name, limits)
    walker = _DocxWalker(builder, _heading_styles(document), paged)
    walker.blocks(body)
    for part in document.part.package.iter_parts():
        if str(part.partname).endswith(("/footnotes.xml", "/endnotes.xml")):
            notes = etree.fromstring(part.blob, etree.XMLParser(resolve_entities=False))
            for note in notes:
                if note.get(_TYPE) in (None, "normal"):
                    walker.blocks(note)
    return builder.extracted(
        media_type=media_type,
        extractor="python-docx",
        version=f"{FORMATS_VERSION}+python-docx-{docx.__version__}",
        empty=f"{name} is an empty Word document: it has no text",
    )


# --- Debian tools: .doc and .wpd ---


@contextmanager
def _in_memory_path(data: bytes, suffix: str) -> Iterator[tuple[str, tuple[int, ...]]]:
    """A path a child process can open and seek, for bytes that never touch the disk."""
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("ragstack-extract")
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            yield f"/dev/fd/{fd}", (fd,)
        finally:
            os.close(fd)
        return
    with tempfile.NamedTemporaryFile(suffix=suffix) as handle:  # not Linux: a private temp file
        handle.write(data)
        handle.flush()
        yield handle.name, ()


def _run_tool(args: list[str], data: bytes, *, suffix: str, name: str, package: str) -> subprocess.CompletedProcess[bytes]:  # fmt: skip
    with _in_memory_path(data, suffix) as (path, fds):
        try:
            return subprocess.run(
                [*args, path],
                pass_fds=fds,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=_TOOL_TIMEOUT_S,
                check=False,
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"},
            )
        except FileNotFoundError as error:
            raise Rejected(
                "unsupported",
                f"{name} needs the '{args[0]}' program (Debian package {package}) to be read, "
                "and this server does not have it",
            ) from error
        except subprocess.TimeoutExpired as error:
            raise Rejected(
                "corrupt",
                f"{name} took more than {_TOOL_TIMEOUT_S} s to read; it is probably damaged",
            ) from error


@functools.cache
def _tool_version(args: tuple[str, ...]) -> str:
    """The tool's own version line ("0.95"), part of Extracted.version."""
    try:
        done = subprocess.run(args, capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    found = re.search(rb"\d+(\.\d+)+", done.stdout + done.stderr)
    return found.group(0).decode() if found else "unknown"


_SPACES = re.compile(r"[ \u00a0]{2,}")  # tabs stay: catdoc separates table cells with them


def _paragraphs(text: str) -> str:
    """One paragraph per line from a tool becomes blank-line separated blocks, like .docx."""
    lines = (_SPACES.sub(" ", line.strip()) for line in text.replace("\f", "\n").splitlines())
    return "\n\n".join(line for line in lines if line)


def _tool_text(
    done: subprocess.CompletedProcess[bytes],
    version_args: tuple[str, ...],
    package: str,
    kind: str,
    name: str,
    media_type: str,
    limits: Limits,
) -> Extracted:
    """What a converter printed, as paragraphs: the text of a `kind` ("Word document"), unless
    it has none. The version names the converter's `package` and its version."""
    text = done.stdout.decode("utf-8", errors="replace")
    version = f"{package}-{_tool_version(version_args)}"
    return _extracted(text, kind, version_args[0], version, name, media_type, limits)


def _extracted(
    text: str, kind: str, extractor: str, version: str, name: str, media_type: str, limits: Limits
) -> Extracted:
    """`text` as paragraphs, a `kind` of document's ("RTF document"), unless it has none;
    `version` names the library or tool that read it, and its version."""
    text = _paragraphs(text)
    if not text:
        raise Rejected("empty", f"{name} is an empty {kind}: it has no text")
    check_text_size(text, name, limits)
    return Extracted(
        text=text,
        media_type=media_type,
        extractor=extractor,
        version=f"{FORMATS_VERSION}+{version}",
    )


def extract_doc(data: bytes, *, name: str, media_type: str, limits: Limits) -> Extracted:
    """Word 97-2003 (and Word 6/95) documents through catdoc."""
    try:
        with olefile.OleFileIO(data) as ole:
            header = ole.openstream("WordDocument").read(12)
    except Exception as error:  # olefile raises OSError, struct.error, … on a damaged container
        raise Rejected("corrupt", f"{name} is a damaged Word 97-2003 document: {error}") from error
    if len(header) < 12:
        raise Rejected("corrupt", f"{name} is a damaged Word 97-2003 document: no document header")
    (flags,) = struct.unpack_from("<H", header, 10)
    if flags & 0x0100:  # FIB.fEncrypted
        raise Rejected("encrypted", f"{name} is a password-protected Word document")
    done = _run_tool(["catdoc", "-d", "utf-8", "-w"], data, suffix=".doc", name=name, package="catdoc")  # fmt: skip
    if done.returncode != 0:
        reason = done.stderr.decode("utf-8", "replace").strip() or "catdoc could not read it"
        raise Rejected("corrupt", f"{name} is a damaged Word 97-2003 document: {reason}")
    return _tool_text(done, ("catdoc", "-V"), "catdoc", "Word document", name, media_type, limits)


def extract_wpd(data: bytes, *, name: str, media_type: str, limits: Limits) -> Extracted:
    """WordPerfect 4.2 to X documents through libwpd's wpd2text."""
    if len(data) < 16:
        raise Rejected("corrupt", f"{name} is a damaged WordPerfect file: it is cut short")
    file_type, encryption = data[9], struct.unpack_from("<H", data, 12)[0]
    if file_type not in (0x0A, 0x2C):  # 0x0A: a document; 0x2C: a Macintosh document
        raise Rejected(
            "unsupported",
            f"{name} is a WordPerfect suite file that is not a document (kind {file_type:#04x}: "
            "a graphic, macro or the like); only WordPerfect documents are supported",
        )
    if encryption:
        raise Rejected("encrypted", f"{name} is a password-protected WordPerfect document")
    done = _run_tool(["wpd2text"], data, suffix=".wpd", name=name, package="libwpd-tools")
    reason = done.stderr.decode("utf-8", "replace").strip()
    if done.returncode != 0:
        if "password" in reason.lower():
            raise Rejected("encrypted", f"{name} is a password-protected WordPerfect document")
        raise Rejected(
            "corrupt",
            f"{name} is a damaged WordPerfect document: {reason or 'wpd2text could not read it'}",
        )
    version = ("wpd2text", "--version")
    return _tool_text(done, version, "libwpd", "WordPerfect document", name, media_type, limits)


# --- .rtf ---


def extract_rtf(data: bytes, *, name: str, media_type: str, limits: Limits) -> Extracted:
    """Rich Text Format through striprtf (it honours \\ansicpg and \\u escapes)."""
    # RTF is 7-bit with escapes; latin-1 maps any stray 8-bit byte to one character, losslessly.
    text = rtf_to_text(data.decode("latin-1"), errors="replace")
    version = f"striprtf-{_striprtf_version()}"
    return _extracted(text, "RTF document", "striprtf", version, name, media_type, limits)


@functools.cache
def _striprtf_version() -> str:
    from importlib.metadata import PackageNotFoundError as NotInstalled
    from importlib.metadata import version

    try:
        return version("striprtf")
    except NotInstalled:
        return "unknown"
