"""A corpus of real files, one or more per format, each carrying a known sentence.

Built here where Python can write the format (PDF by hand and with pypdf, DOCX with python-docx,
RTF, HTML, Markdown, CSV and code as text); .doc and .wpd come from committed fixtures (see
fixtures/README.md for how they were made). Importable by other tests, e.g. the ingest projection's:
`from tests.projections.formats.corpus import good_corpus`.
"""

import functools
import io
import random
import struct
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import docx
import pypdf
from docx.oxml import OxmlElement

from tests.requirements import require_tools

FIXTURES = Path(__file__).parent / "fixtures"


@dataclass(frozen=True)
class Sample:
    name: str
    data: bytes
    sentence: str
    """A sentence that must appear verbatim in the extracted text."""
    media_type: str
    page: int | None = None
    """The page the sentence is on, where the format has pages."""
    heading: str | None = None
    """The heading the sentence sits under, where the format has headings."""
    tools: tuple[tuple[str, str], ...] = ()
    """(program, Debian package) pairs the extractor runs, which a fresh machine may lack."""


def require_tools_of(samples: Iterable[Sample]) -> None:
    """Skip (or, under RAGSTACK_TEST_STRICT=1, fail) unless every tool the samples need is here."""
    require_tools(dict(tool for sample in samples for tool in sample.tools))


# --- PDF ---


def _pdf_string(line: str) -> bytes:
    raw = line.encode("cp1252")
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def _serialize_pdf(objects: dict[int, bytes]) -> bytes:
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number in sorted(objects):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + objects[number] + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def make_pdf(pages: list[list[str]]) -> bytes:
    """A PDF whose page i shows the lines pages[i] in Helvetica (a real text layer)."""
    kids = [4 + 2 * i for i in range(len(pages))]
    objects = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [%s] /Count %d >>"
        % (b" ".join(b"%d 0 R" % kid for kid in kids), len(pages)),
        3: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    }
    for kid, lines in zip(kids, pages, strict=True):
        shown = b" ".join(_pdf_string(line) + b" Tj T*" for line in lines)
        content = b"BT /F1 12 Tf 14 TL 72 720 Td " + shown + b" ET"
        objects[kid] = (
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % (kid + 1)
        )
        objects[kid + 1] = b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content)
    return _serialize_pdf(objects)


def make_scanned_pdf() -> bytes:
    """A one-page PDF that only paints an image: what a scanner without OCR produces."""
    pixels = bytes(random.Random(3).randrange(256) for _ in range(64 * 64))
    content = b"q 468 468 0 0 72 200 cm /Im1 Do Q"
    return _serialize_pdf(
        {
            1: b"<< /Type /Catalog /Pages 2 0 R >>",
            2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /XObject << /Im1 5 0 R >> >> /Contents 4 0 R >>",
            4: b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
            5: b"<< /Type /XObject /Subtype /Image /Width 64 /Height 64 /ColorSpace /DeviceGray "
            b"/BitsPerComponent 8 /Length %d >>\nstream\n%s\nendstream" % (len(pixels), pixels),
        }
    )


def rewrite_pdf(
    data: bytes,
    *,
    outline: list[tuple[str, int]] = (),  # type: ignore[assignment]
    user_password: str | None = None,
    owner_password: str | None = None,
) -> bytes:
    """The same PDF through pypdf's writer, with outline items (title, 0-based page) or encryption."""
    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(data)))
    for title, page in outline:
        writer.add_outline_item(title=title, page_number=page)
    if user_password is not None:
        writer.encrypt(user_password, owner_password, algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


# --- DOCX ---


def make_docx(
    *,
    heading: str,
    sentence: str,
    table_sentence: str | None = None,
    rendered_page_before_sentence: bool = False,
) -> bytes:
    """A Word document: a Heading 1, an intro, the sentence, a table; optionally Word's page mark."""
    document = docx.Document()
    document.add_heading("Preface", level=1)
    document.add_paragraph("This document was written by the test suite.")
    document.add_heading(heading, level=2)
    paragraph = document.add_paragraph(sentence)
    if rendered_page_before_sentence:
        # Word records where its layout turned the page; python-docx cannot, so add the mark.
        paragraph.runs[0]._r.insert(0, OxmlElement("w:lastRenderedPageBreak"))
    if table_sentence:
        table = document.add_table(rows=2, cols=2)
        table.cell(0, 0).text, table.cell(0, 1).text = "Key", "Value"
        table.cell(1, 0).text, table.cell(1, 1).text = "note", table_sentence
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _zip_entry(name: bytes, raw: bytes, *, size: int, crc: int, offset: int) -> tuple[bytes, bytes]:
    """A deflated member's local record and its central-directory record."""
    fields = struct.pack("<HHHHHIII", 20, 0, 8, 0, 0x21, crc, len(raw), size)
    local = b"PK\x03\x04" + fields + struct.pack("<HH", len(name), 0) + name + raw
    central = (
        b"PK\x01\x02"
        + struct.pack("<H", 20)
        + fields
        + struct.pack("<HHHHHII", len(name), 0, 0, 0, 0, 0, offset)
        + name
    )
    return local, central


def rebuild_zip(base: bytes, extra: list[tuple[bytes, bytes, int, int]]) -> bytes:
    """`base`'s members re-deflated, plus raw members (name, deflate stream, declared size, crc)."""
    members: list[tuple[bytes, bytes, int, int]] = []
    with zipfile.ZipFile(io.BytesIO(base)) as archive:
        for info in archive.infolist():
            content = archive.read(info)
            compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
            raw = compressor.compress(content) + compressor.flush()
            members.append((info.filename.encode(), raw, len(content), zlib.crc32(content)))
    members += extra
    body, directory = bytearray(), bytearray()
    for name, raw, size, crc in members:
        local, central = _zip_entry(name, raw, size=size, crc=crc, offset=len(body))
        body += local
        directory += central
    end = b"PK\x05\x06" + struct.pack(
        "<HHHHIIH", 0, 0, len(members), len(members), len(directory), len(body), 0
    )
    return bytes(body + directory + end)


@functools.cache
def _deflated_zeros(mib: int) -> bytes:
    """A raw deflate stream of `mib` MiB of zeros, built from one compressed 16 MiB block."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    # After a full flush the compressor starts afresh, so every 16 MiB of zeros deflates the same.
    block = compressor.compress(bytes(16 * 2**20)) + compressor.flush(zlib.Z_FULL_FLUSH)
    return block * (mib // 16) + compressor.flush()


def make_zip_bomb_docx(gib: int = 3) -> bytes:
    """A real .docx plus a part that inflates to `gib` GiB of zeros: about 1 MB of zip per GiB."""
    base = make_docx(heading="Bomb", sentence="Nothing to see here.")
    zeros = _deflated_zeros(gib * 1024)
    return rebuild_zip(base, [(b"word/media/zeros.bin", zeros, gib * 2**30, 0)])


def make_lying_zip_docx(real_mib: int = 1024, part: bytes = b"word/media/liar.bin") -> bytes:
    """A .docx with a part that declares 2 KiB but would inflate to `real_mib` MiB if trusted."""
    base = make_docx(heading="Liar", sentence="Nothing to see here.")
    zeros = _deflated_zeros(real_mib)
    return rebuild_zip(base, [(part, zeros, 2048, zlib.crc32(bytes(2048)))])


# --- images and junk ---


def make_png(width: int = 4, height: int = 4) -> bytes:
    """A real, valid PNG (grey pixels)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def binary_junk(size: int = 4096) -> bytes:
    return random.Random(7).randbytes(size)


# --- the corpus ---

CODE_FILES: dict[str, tuple[str, str]] = {
    "script.py": ("# {s}\nprint('hello')\n", "text/x-python"),
    "app.js": ("// {s}\nconsole.log(1);\n", "text/javascript"),
    "types.ts": ("// {s}\nexport const x: number = 1;\n", "text/x-typescript"),
    "run.sh": ("#!/bin/sh\n# {s}\necho hi\n", "text/x-shellscript"),
    "build.bat": ("@echo off\r\nREM {s}\r\necho hi\r\n", "text/x-msdos-batch"),
    "site.css": ("/* {s} */\nbody {{ color: red; }}\n", "text/css"),
    "query.sql": ("-- {s}\nSELECT 1;\n", "application/sql"),
    "main.go": ("package main\n// {s}\nfunc main() {{}}\n", "text/x-go"),
    "lib.rs": ("//! {s}\nfn main() {{}}\n", "text/x-rust"),
    "Main.java": ("// {s}\nclass Main {{}}\n", "text/x-java"),
    "prog.c": ("/* {s} */\nint main(void) {{ return 0; }}\n", "text/x-c"),
    "prog.h": ("/* {s} */\n#pragma once\n", "text/x-c"),
    "prog.cpp": ("// {s}\nint main() {{}}\n", "text/x-c++"),
    "tool.rb": ("# {s}\nputs 1\n", "text/x-ruby"),
    "page.php": ("<?php\n// {s}\necho 1;\n", "text/x-php"),
    "App.kt": ("// {s}\nfun main() {{}}\n", "text/x-kotlin"),
    "App.swift": ("// {s}\nprint(1)\n", "text/x-swift"),
    "config.yaml": ("# {s}\nkey: value\n", "application/yaml"),
    "data.json": ('{{"note": "{s}"}}\n', "application/json"),
    "pyproject.toml": ('# {s}\n[project]\nname = "x"\n', "application/toml"),
    "feed.xml": ('<?xml version="1.0"?>\n<note>{s}</note>\n', "application/xml"),
    "setup.ini": ("; {s}\n[section]\nkey=value\n", "text/x-ini"),
    "Makefile": ("# {s}\nall:\n\ttrue\n", "text/x-makefile"),
    "notes.unknownext": (
        "{s}\nplain words in a file with an extension nobody knows\n",
        "text/plain",
    ),
}


def good_corpus() -> list[Sample]:
    """One real file of every HIGH format (plus every code file kind), each with its sentence."""
    pdf_sentence = "The lighthouse keeper counts ships on page two."
    pdf = rewrite_pdf(
        make_pdf(
            [
                ["Annual Review", "The first page introduces the harbour."],
                ["Shipping", pdf_sentence],
                ["The third page closes the review."],
            ]
        ),
        outline=[("Introduction", 0), ("Shipping Lanes", 1), ("Closing", 2)],
    )
    docx_sentence = "The orchard yields crisp apples every October."
    samples = [
        Sample("review.pdf", pdf, pdf_sentence, "application/pdf", 2, "Shipping Lanes"),
        Sample(
            "orchard.docx",
            make_docx(heading="Harvest Season", sentence=docx_sentence),
            docx_sentence,
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            None,
            "Harvest Season",
        ),
        Sample(
            "legacy.doc",
            (FIXTURES / "legacy.doc").read_bytes(),
            "The copper kettle whistles at dawn in the Word 97 file.",
            "application/msword",
            tools=(("catdoc", "catdoc"),),
        ),
        Sample(
            "report.wpd",
            (FIXTURES / "report.wpd").read_bytes(),
            "The heron nests by the old mill pond.",
            "application/vnd.wordperfect",
            tools=(("wpd2text", "libwpd-tools"),),
        ),
        Sample(
            "memo.rtf",
            rb"{\rtf1\ansi\ansicpg1252\deff0{\fonttbl{\f0 Times;}}"
            rb"\f0\fs24 Memo\par The caf\'e9 serves strong tea after the rain.\par}",
            "The café serves strong tea after the rain.",
            "application/rtf",
        ),
        Sample(
            "notes.txt",
            b"Some notes.\n\nThe violin rests in its velvet case.\n",
            "The violin rests in its velvet case.",
            "text/plain",
        ),
        Sample(
            "guide.md",
            b"# Guide\n\nIntro.\n\n## Gardening\n\nThe tomatoes ripen slowly in the shade.\n",
            "The tomatoes ripen slowly in the shade.",
            "text/markdown",
            None,
            "Gardening",
        ),
        Sample(
            "people.csv",
            b'name,remark\nAda,"The comet returns in seventy-six years."\nBob,none\n',
            "The comet returns in seventy-six years.",
            "text/csv",
        ),
    ]
    for suffix, media_type in (
        (".html", "text/html"),
        (".htm", "text/html"),
        (".xhtml", "application/xhtml+xml"),
    ):
        sentence = f"The {suffix[1:]} page says the bridge opens at noon."
        prolog = b'<?xml version="1.0" encoding="utf-8"?>\n' if suffix == ".xhtml" else b""
        page = (
            prolog
            + (
                '<html xmlns="http://www.w3.org/1999/xhtml"><head><title>Town</title>'
                "<style>p { color: red; }</style><script>var hidden = 1;</script></head>"
                "<body><nav>Home | About</nav><h1>Town News</h1><h2>Traffic</h2>"
                f"<p>{sentence}</p></body></html>"
            ).encode()
        )
        samples.append(Sample(f"town{suffix}", page, sentence, media_type, None, "Traffic"))
    for name, (template, media_type) in CODE_FILES.items():
        sentence = f"The {name} file mentions a purple giraffe."
        samples.append(Sample(name, template.format(s=sentence).encode(), sentence, media_type))
    return samples
