"""Retrieval quality: labelled sets, a BEIR-format loader, and the standard measures.

A labelled set is a corpus (documents), queries (each of a kind: `paraphrase`, `name`, `code`,
`number`, or whatever a set names) and relevance judgements (qrels: query -> document -> grade).
`load_beir` reads the format BEIR publishes its sets in (SciFact, NFCorpus…), so any of them can be
run where it is on disk; `bench/numpy_docs_set.py` builds the set the benchmark ships with.

The measures are trec_eval's, through pytrec-eval-terrier (a maintained binding; ir-measures
would pull more in): nDCG@10, recall@5, recall@20 and MRR, averaged over queries, each query
kind apart and all together. A query the system returns nothing for scores 0, not "absent".
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import msgspec
import pytrec_eval

__all__ = [
    "MEASURES",
    "Doc",
    "LabelledSet",
    "Query",
    "evaluate",
    "load_beir",
]

MEASURES = {"ndcg_cut_10": "ndcg10", "recall_5": "recall5", "recall_20": "recall20",
            "recip_rank": "mrr"}  # fmt: skip
"""trec_eval's measure names -> the names figures use."""


class Doc(msgspec.Struct, frozen=True, kw_only=True):
    """One document of a corpus."""

    title: str = ""
    text: str


class Query(msgspec.Struct, frozen=True, kw_only=True):
    """One query and its kind (figures are reported per kind)."""

    text: str
    kind: str = "query"


class LabelledSet(msgspec.Struct, frozen=True, kw_only=True):
    """A corpus, queries and relevance judgements (grade > 0 is relevant)."""

    name: str
    corpus: dict[str, Doc]
    queries: dict[str, Query]
    qrels: dict[str, dict[str, int]]

    def check(self) -> LabelledSet:
        """Self, or ValueError naming the first query or judgement that does not fit."""
        for qid, judged in self.qrels.items():
            if qid not in self.queries:
                raise ValueError(f"{self.name}: judgements for unknown query {qid!r}")
            for did in judged:
                if did not in self.corpus:
                    raise ValueError(f"{self.name}: query {qid!r} judges unknown document {did!r}")
        for qid in self.queries:
            if not any(g > 0 for g in self.qrels.get(qid, {}).values()):
                raise ValueError(f"{self.name}: query {qid!r} has no relevant document")
        return self


def _jsonl(path: Path) -> Iterable[dict[str, object]]:
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{n}: not JSON ({e.msg})") from None
            if not isinstance(row, dict) or "_id" not in row:
                raise ValueError(f"{path}:{n}: a row must be an object with an _id")
            yield row


def load_beir(folder: Path, *, split: str = "test", kind_field: str | None = None) -> LabelledSet:
    """A BEIR-format set: `corpus.jsonl` ({_id, title, text}), `queries.jsonl` ({_id, text}) and
    `qrels/<split>.tsv` (query-id, corpus-id, score, with a header line). Only queries judged in
    the split are kept, as BEIR's own loader does. `kind_field` names a query field (in the
    query's `metadata` object or at its top level) that gives its kind."""
    folder = Path(folder)
    for needed in ("corpus.jsonl", "queries.jsonl", f"qrels/{split}.tsv"):
        if not (folder / needed).is_file():
            raise FileNotFoundError(f"{folder} is no BEIR set: {needed} is missing")
    corpus = {
        str(row["_id"]): Doc(title=str(row.get("title") or ""), text=str(row.get("text") or ""))
        for row in _jsonl(folder / "corpus.jsonl")
    }
    qrels: dict[str, dict[str, int]] = defaultdict(dict)
    with (folder / "qrels" / f"{split}.tsv").open(encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            cells = line.rstrip("\n").split("\t")
            if n == 1 and not cells[-1].lstrip("-").isdigit():
                continue  # the header
            if len(cells) != 3 or not cells[2].lstrip("-").isdigit():
                raise ValueError(f"{folder}/qrels/{split}.tsv:{n}: expected query, doc, score")
            qrels[cells[0]][cells[1]] = int(cells[2])
    queries = {}
    for row in _jsonl(folder / "queries.jsonl"):
        qid = str(row["_id"])
        if qid not in qrels:
            continue
        kind = "query"
        if kind_field:
            meta = row.get("metadata")
            value = meta.get(kind_field) if isinstance(meta, dict) else row.get(kind_field)
            kind = str(value) if value else kind
        queries[qid] = Query(text=str(row.get("text") or ""), kind=kind)
    missing = sorted(set(qrels) - set(queries))
    if missing:
        raise ValueError(f"{folder}: judgements for queries not in queries.jsonl: {missing[:5]}")
    return LabelledSet(name=folder.name, corpus=corpus, queries=queries, qrels=dict(qrels)).check()


def evaluate(
    labelled: LabelledSet, runs: Mapping[str, Sequence[str]]
) -> dict[str, dict[str, float]]:
    """Mean measures per query kind and over `all`: {kind: {ndcg10, recall5, recall20, mrr,
    queries}}. `runs` maps each query id to the document ids retrieved, best first; a query
    missing from `runs` retrieved nothing."""
    run = {
        qid: {did: float(len(ranked) - i) for i, did in enumerate(dict.fromkeys(ranked))}
        for qid, ranked in runs.items()
        if qid in labelled.queries
    }
    evaluator = pytrec_eval.RelevanceEvaluator(labelled.qrels, set(MEASURES))
    per_query = evaluator.evaluate(run)
    by_kind: dict[str, list[str]] = defaultdict(list)
    for qid, query in labelled.queries.items():
        by_kind[query.kind].append(qid)
        by_kind["all"].append(qid)
    result = {}
    for kind, qids in sorted(by_kind.items()):
        means = {
            short: round(sum(per_query.get(q, {}).get(m, 0.0) for q in qids) / len(qids), 4)
            for m, short in MEASURES.items()
        }
        result[kind] = {**means, "queries": len(qids)}
    return result
