"""A labelled retrieval set from NumPy's own docstrings: real text, written by NumPy's authors,
shipped inside the `numpy` wheel this project already installs, read at run time (no download).

Corpus: every public docstring of NumPy's modules (and of their classes' public members), cut
into its numpydoc sections (description, Parameters, Returns, Notes, References, Examples…);
each section of at least 150 characters is a document, cut at 1,600 characters. The first
section of a docstring (its summary and extended description) is always a document. "See Also"
sections are not in the corpus: they are where the paraphrases come from.

Queries, labelled by construction (docs/quality.md says why each is sound):

- `paraphrase`: a "See Also" entry describes another function in its own words, written by a
  different author at a different time ("cumsum : Cumulative sum of array elements."). The
  description is the query; the described function's first section is the one relevant document.
  Descriptions found verbatim in that section, relational ones ("Equivalent function …"),
  and those shorter than four words are left out.
- `name`, `code`, `number`: a term that occurs in at most two documents — a proper name (a
  capitalised word inside a sentence whose lower-case form the corpus never uses: "Bartlett",
  "Marsaglia"), an identifier with a digit or an underscore
  (`float64`, `ravel_multi_index`), a number of three or more digits or with a decimal point —
  asked for in a short question; every document containing the term is relevant.

Which queries are drawn is fixed by a seed; the set records NumPy's version, and its digest
changes with any change to the text, so two figures are comparable only over one digest.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import random
import re
from collections import defaultdict

import numpy as np

import rust_core
from bench.quality import Doc, LabelledSet, Query

__all__ = ["MODULES", "TEMPLATES", "build", "digest"]

MODULES = (
    "numpy", "numpy.linalg", "numpy.fft", "numpy.random", "numpy.ma",
    "numpy.polynomial.polynomial", "numpy.polynomial.chebyshev", "numpy.polynomial.legendre",
    "numpy.polynomial.hermite", "numpy.polynomial.hermite_e", "numpy.polynomial.laguerre",
    "numpy.strings", "numpy.char", "numpy.testing", "numpy.lib.stride_tricks",
    "numpy.lib.recfunctions", "numpy.lib.scimath", "numpy.dtypes", "numpy.exceptions",
    "numpy.rec", "numpy.lib.format", "numpy.lib.array_utils",
)  # fmt: skip
"""The modules whose public names are read, in this order (the first name of a docstring wins)."""

MIN_DOC = 150
MAX_DOC = 1600
SEED = 14
_HEADING = re.compile(r"^([A-Z][A-Za-z ]+)\n-{3,}[ \t]*$", re.M)
_SEE_ALSO_ENTRY = re.compile(r"^(\S[^\n:]*?)\s*:\s*(.+(?:\n[ \t]+.+)*)", re.M)
_RELATIONAL = re.compile(
    r"^(equivalent|similar|same|see|alias|which|this|the same|as above|like|preferred|"
    r"corresponding|generic|method|function|inverse of|the inverse|for|a variant)\b",
    re.I,
)
_NAME = re.compile(r"(?<=[a-z,.] )([A-Z][a-z]{3,})\b")
_WORD = re.compile(r"\b[a-z]+\b")
_CODE = re.compile(r"\b(?=[A-Za-z_]*[0-9_])(?=[0-9_]*[A-Za-z])[A-Za-z][A-Za-z0-9_]{3,}\b")
_NUMBER = re.compile(r"(?<![\w.])(\d+\.\d+|\d{3,})(?![\w.])")
TEMPLATES = {
    "name": "Which passage mentions {}?",
    "code": "Where is {} described?",
    "number": "Where does the value {} appear?",
}
_PER_KIND = {"paraphrase": 200, "name": 60, "code": 70, "number": 70}


@functools.cache
def _docstrings() -> dict[str, str]:
    """Qualified name -> cleaned docstring, for each distinct docstring of 200+ characters."""
    named: dict[str, str] = {}
    seen: set[str] = set()
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for attr in sorted(dir(module)):
            if attr.startswith("_"):
                continue
            try:
                obj = getattr(module, attr)
            except AttributeError:
                continue
            items = [(f"{module_name}.{attr}", obj)]
            if inspect.isclass(obj) and (obj.__module__ or "").startswith("numpy"):
                for member in sorted(vars(obj)):
                    if not member.startswith("_"):
                        items.append((f"{module_name}.{attr}.{member}", getattr(obj, member, None)))
            for name, thing in items:
                doc = getattr(thing, "__doc__", None)
                if not isinstance(doc, str) or len(doc) < 200:
                    continue
                text = inspect.cleandoc(doc)
                if text not in seen:
                    seen.add(text)
                    named[name] = text
    return named


def _sections(doc: str) -> list[tuple[str, str]]:
    parts, last, title = [], 0, "Description"
    for m in _HEADING.finditer(doc):
        parts.append((title, doc[last : m.start()].strip()))
        title, last = m.group(1).strip(), m.end()
    parts.append((title, doc[last:].strip()))
    return parts


def _words(text: str) -> str:
    return " ".join(text.split())


def build(per_kind: dict[str, int] | None = None, seed: int = SEED) -> LabelledSet:
    """The labelled set (see the module's docstring); `per_kind` caps the queries of each kind."""
    wanted = per_kind or _PER_KIND
    corpus: dict[str, Doc] = {}
    first_doc: dict[str, str] = {}
    see_also: list[tuple[str, str]] = []
    for name, doc in _docstrings().items():
        n = 0
        for title, body in _sections(doc):
            if title.lower() == "see also":
                see_also.append((name, body))
                continue
            if n and len(body) < MIN_DOC:
                continue
            did = f"{name}#{n}"
            corpus[did] = Doc(title=name if n == 0 else f"{name} — {title}", text=body[:MAX_DOC])
            first_doc.setdefault(name, did)
            n += 1
    rng = random.Random(seed)
    queries: dict[str, Query] = {}
    qrels: dict[str, dict[str, int]] = {}

    # paraphrase: a See Also entry's description of another function
    candidates: dict[tuple[str, str], None] = {}
    for owner, body in see_also:
        module = owner.rsplit(".", 1)[0]
        for m in _SEE_ALSO_ENTRY.finditer(body):
            target_ref = m.group(1).split(",")[0].strip().strip("`")
            description = _words(m.group(2))
            if len(description.split()) < 4 or _RELATIONAL.match(description):
                continue
            target = next(
                (
                    t
                    for t in (target_ref, f"{module}.{target_ref}", f"numpy.{target_ref}")
                    if t in first_doc
                ),
                None,
            )
            if target is None:
                continue
            relevant = first_doc[target]
            if description.lower().rstrip(".") in _words(corpus[relevant].text).lower():
                continue  # found verbatim: no paraphrase
            candidates.setdefault((description, relevant), None)
    pairs = sorted(candidates)
    descriptions = defaultdict(set)
    for description, relevant in pairs:
        descriptions[description].add(relevant)
    chosen = rng.sample(sorted(descriptions), min(wanted["paraphrase"], len(descriptions)))
    for n, description in enumerate(sorted(chosen)):
        qid = f"paraphrase-{n:04d}"
        queries[qid] = Query(text=description, kind="paraphrase")
        qrels[qid] = {d: 1 for d in sorted(descriptions[description])}

    # exact terms: rare surnames, codes and numbers
    found: dict[str, dict[str, set[str]]] = {k: defaultdict(set) for k in TEMPLATES}
    lower = {w for doc in corpus.values() for w in _WORD.findall(doc.text)}
    for did, doc in corpus.items():
        for m in _NAME.finditer(doc.text):
            if m.group(1).lower() not in lower:  # a proper name, not a capitalised word
                found["name"][m.group(1)].add(did)
        for m in _CODE.finditer(doc.text):
            found["code"][m.group(0)].add(did)
        for m in _NUMBER.finditer(doc.text):
            found["number"][m.group(0)].add(did)
    for kind, template in TEMPLATES.items():
        terms = sorted(t for t, docs in found[kind].items() if len(docs) <= 2)
        chosen_terms = sorted(rng.sample(terms, min(wanted[kind], len(terms))))
        for n, term in enumerate(chosen_terms):
            qid = f"{kind}-{n:04d}"
            # Every document containing the term (as a whole word) is relevant, not only those
            # the pattern picked it out of.
            pattern = re.compile(rf"(?<![\w.]){re.escape(term)}(?![\w])")
            relevant = {d for d, doc in corpus.items() if pattern.search(doc.text)}
            if not relevant or len(relevant) > 2:
                continue
            queries[qid] = Query(text=template.format(term), kind=kind)
            qrels[qid] = dict.fromkeys(sorted(relevant), 1)
    return LabelledSet(
        name=f"numpy-docs-{np.__version__}", corpus=corpus, queries=queries, qrels=qrels
    ).check()


def digest(labelled: LabelledSet) -> str:
    """BLAKE3 hex of the set's corpus, queries and judgements (figures compare within one)."""
    import msgspec

    return rust_core.hash(msgspec.msgpack.encode(labelled)).hex()[:16]
