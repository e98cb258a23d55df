"""Documents for bench/bench_ingest.py: prose from a fixed vocabulary, PDFs (built as the tests
build them, tests/projections/formats/corpus.py), Word documents, and a mix of five formats."""

from __future__ import annotations

import io
import random

import docx

from tests.projections.formats.corpus import make_pdf

__all__ = ["make_docx", "make_pdf", "mixed_document", "paragraph", "pdf_pages", "sentence"]

WORDS = [
    "account", "action", "answer", "archive", "audit", "balance", "border", "branch", "budget",
    "cable", "canal", "capital", "carbon", "cargo", "castle", "cedar", "census", "chamber",
    "channel", "charter", "circuit", "climate", "cluster", "coast", "colony", "column", "comet",
    "contract", "copper", "corridor", "council", "crater", "credit", "current", "custom", "dealer",
    "delta", "desert", "diamond", "digest", "district", "doctor", "domain", "drawer", "engine",
    "estate", "export", "fabric", "factor", "falcon", "ferry", "figure", "filter", "forest",
    "formula", "fossil", "garden", "garment", "glacier", "granite", "harbour", "harvest", "helmet",
    "horizon", "island", "journal", "junction", "kernel", "kettle", "ladder", "lantern", "ledger",
    "legend", "lens", "library", "license", "linen", "magnet", "manor", "margin", "market",
    "meadow", "medal", "mirror", "monitor", "mortar", "motor", "museum", "needle", "network",
    "orbit", "orchard", "paddle", "palace", "parcel", "patent", "pepper", "permit", "pilot",
    "pioneer", "planet", "pocket", "portal", "prairie", "quarry", "rabbit", "radar", "ration",
    "record", "reef", "relay", "remedy", "ribbon", "ridge", "river", "rocket", "saddle", "salmon",
    "satellite", "scholar", "season", "sensor", "shelter", "signal", "silver", "sketch", "socket",
    "spiral", "statue", "summit", "tablet", "tariff", "temple", "thistle", "ticket", "timber",
    "tunnel", "turbine", "valley", "vessel", "village", "voltage", "willow"
]  # fmt: skip


def sentence(rng: random.Random, words: int = 14) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def paragraph(rng: random.Random, sentences: int = 7) -> str:
    """About 700 characters of prose: one chunk (the target is 800)."""
    return " ".join(sentence(rng) for _ in range(sentences))


def pdf_pages(rng: random.Random, pages: int, tag: str = "") -> list[list[str]]:
    """Pages of 36 lines each (about 2,700 characters a page)."""
    return [
        [f"{tag}Page {p} line {i}: " + sentence(rng, 10) for i in range(36)]
        for p in range(1, pages + 1)
    ]


def make_docx(title: str, paragraphs: list[str]) -> bytes:
    """A Word document: a title heading, the paragraphs, a section heading every third one."""
    document = docx.Document()
    document.add_heading(title, level=1)
    for i, text in enumerate(paragraphs):
        if i and i % 3 == 0:
            document.add_heading(f"Section {i // 3}", level=2)
        document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def mixed_document(rng: random.Random, i: int) -> tuple[str, str, bytes, str]:
    """(name, media type, bytes, its first paragraph) of one of five formats, 1-3 chunks.

    The first paragraph is the probe a search must find the document by: the prose is drawn
    from one small vocabulary, so a single sentence would not single a document out.
    """
    parts = [paragraph(rng) for _ in range(rng.randint(1, 3))]
    parts[0] = f"Document {i}. {parts[0]}"
    key = parts[0]
    kind = i % 5
    if kind == 0:
        return f"doc{i}.txt", "text/plain", "\n\n".join(parts).encode(), key
    if kind == 1:
        body = "\n\n".join(f"## Part {n}\n\n{p}" for n, p in enumerate(parts))
        return f"doc{i}.md", "text/markdown", f"# Note {i}\n\n{body}".encode(), key
    if kind == 2:
        body = "".join(f"<p>{p}</p>" for p in parts)
        page = (
            f"<html><head><title>Page {i}</title></head><body><h1>Page {i}</h1>{body}</body></html>"
        )
        return f"doc{i}.html", "text/html", page.encode(), key
    if kind == 3:
        lines = [line for p in parts for line in _wrap(p)]
        pages = [lines[n : n + 36] for n in range(0, len(lines), 36)]
        return f"doc{i}.pdf", "application/pdf", make_pdf(pages), key
    return f"doc{i}.docx", "", make_docx(f"Report {i}", parts), key


def _wrap(text: str, width: int = 80) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return [*lines, line] if line else lines
