"""What bench_gateway.py feeds the gateway: PDFs with a real text layer, and a synthetic chapter
index of chunk records shaped exactly as the vectors projection writes them."""

from __future__ import annotations

import random
import textwrap
from collections.abc import Sequence

import numpy as np

import rust_core
from projections.vectorstores import VectorRecord, chunk_metadata
from tests.projections.formats.corpus import make_pdf

__all__ = ["WORDS", "SyntheticCorpus", "make_pdf", "prose", "report_pdf"]

_VOCABULARY = (
    "harbour ledger tariff cargo vessel pilot tide customs berth crane manifest freight quay "
    "merchant warehouse insurance charter broker invoice audit river canal lock toll barge "
    "engine boiler valve turbine pressure gauge rivet hull keel mast sail rope anchor signal "
    "lamp beacon chart compass survey depth sounding dredge silt flood drought harvest grain "
    "mill bakery market price wage labour union strike council mayor clerk archive record"
)
WORDS = tuple(_VOCABULARY.split())
"""The benchmark's vocabulary: documents, questions and queries are made of these words."""
CHUNKS_PER_SOURCE = 200
PERTURBATION = 0.25
"""Norm of the random offset added to a unit vector before re-normalising (cosine ~0.97)."""


def prose(rng: random.Random, words: int) -> str:
    """Plausible-looking sentences from the benchmark's vocabulary."""
    out: list[str] = []
    while len(out) < words:
        sentence = [rng.choice(WORDS) for _ in range(rng.randint(6, 14))]
        out.extend([sentence[0].capitalize(), *sentence[1:-1], sentence[-1] + "."])
    return " ".join(out[:words])


# --- PDF: the test corpus's builder, shared with bench/ingest_corpus.py ---


def report_pdf(run: int, pages: int) -> tuple[bytes, str, str]:
    """A `pages`-page report (40 lines, about 450 words a page) whose last page opens with a
    one-line sentence; returns the PDF, that sentence and the made-up word that marks it.

    Every run's text is different, so no run finds its chunks in the embedding cache."""
    rng = random.Random(f"pdf-{run}")
    marker = f"zephyrium{run}x{rng.randrange(10**6)}"
    sentence = f"The {marker} clause closes the harbour ledger of run {run}."
    layout = []
    for page in range(1, pages + 1):
        text = prose(rng, 450)
        lines = textwrap.wrap(text, 75)[:39]
        layout.append([sentence, *lines] if page == pages else lines)
    return make_pdf(layout), sentence, marker


# --- a synthetic index ---


class SyntheticCorpus:
    """Chunk records built from a few hundred distinct texts and their embeddings: record n
    carries one of the texts as its document, and that text's vector moved by a small random
    offset (re-normalised), so that the index holds distinct points clustered as real chunks are.

    Records are what the vectors projection writes (projections/vectors.py `_records`): id
    `<source>:<chunk hash>`, `chunk_metadata` with chunk, start, end and source_name, the text as
    document; `CHUNKS_PER_SOURCE` chunks per made-up source."""

    def __init__(self, texts: Sequence[str], vectors: np.ndarray, *, seed: int = 7) -> None:
        if len(texts) != len(vectors):
            raise ValueError("one vector per text")
        self.texts = list(texts)
        self.vectors = np.asarray(vectors, dtype=np.float32)
        self.rng = np.random.default_rng(seed)

    def records(self, chapter: str, rev: int, first: int, n: int) -> list[VectorRecord]:
        """Records number `first` to `first + n - 1` of the chapter's index."""
        picks = self.rng.integers(0, len(self.texts), n)
        offsets = self.rng.standard_normal((n, self.vectors.shape[1])).astype(np.float32)
        offsets *= PERTURBATION / np.linalg.norm(offsets, axis=1, keepdims=True)
        moved = self.vectors[picks] + offsets
        moved /= np.linalg.norm(moved, axis=1, keepdims=True)
        records = []
        for i in range(n):
            number = first + i
            source = f"synthetic{number // CHUNKS_PER_SOURCE:05d}"
            text = self.texts[picks[i]]
            chunk = rust_core.hash(f"{number}:{text}".encode()).hex()
            extra: dict[str, str | int | float | bool] = {
                "chunk": chunk,
                "start": 0,
                "end": len(text),
                "source_name": f"{source}.pdf",
            }
            records.append(
                VectorRecord(
                    id=f"{source}:{chunk}",
                    vector=moved[i].tolist(),
                    metadata=chunk_metadata(chapter=chapter, source=source, rev=rev, extra=extra),
                    document=text,
                )
            )
        return records
