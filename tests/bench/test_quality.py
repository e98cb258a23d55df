"""The quality harness (bench/quality.py, bench/numpy_docs_set.py) and the fusion functions: the
BEIR loader on a small set written here, the measures against values worked out by hand, the
shipped set's size and shape, and the benchmark's `--quick` run."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from bench.bench_quality import held_out_weight
from bench.numpy_docs_set import TEMPLATES, build, digest
from bench.quality import Doc, LabelledSet, Query, evaluate, load_beir
from projections.fusion import convex, rrf
from tests.bench.bench_support import assert_positive, run_quick


def _write_beir(folder: Path, *, qrels: str | None = None) -> Path:
    (folder / "qrels").mkdir(parents=True)
    docs = [
        {"_id": "d1", "title": "Pumps", "text": "Fault E4411 means the pump lost pressure."},
        {"_id": "d2", "title": "", "text": "Valves are replaced by the night shift."},
        {"_id": "d3", "text": "Okonkwo signed the report."},
    ]
    (folder / "corpus.jsonl").write_text("\n".join(json.dumps(d) for d in docs) + "\n")
    queries = [
        {"_id": "q1", "text": "what does E4411 mean", "metadata": {"kind": "code"}},
        {"_id": "q2", "text": "who signed", "kind": "name"},
        {"_id": "q3", "text": "not judged in this split"},
    ]
    (folder / "queries.jsonl").write_text("\n".join(json.dumps(q) for q in queries))
    (folder / "qrels" / "test.tsv").write_text(
        qrels or "query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td2\t0\nq2\td3\t1\n"
    )
    return folder


def test_a_beir_set_loads_with_its_judged_queries_and_their_kinds(tmp_path):
    labelled = load_beir(_write_beir(tmp_path / "tiny"), kind_field="kind")
    assert labelled.name == "tiny"
    assert labelled.corpus["d1"] == Doc(
        title="Pumps", text="Fault E4411 means the pump lost pressure."
    )
    assert labelled.corpus["d3"].title == ""
    assert labelled.queries == {
        "q1": Query(text="what does E4411 mean", kind="code"),
        "q2": Query(text="who signed", kind="name"),
    }
    assert labelled.qrels == {"q1": {"d1": 2, "d2": 0}, "q2": {"d3": 1}}


def test_a_broken_beir_set_is_refused_with_the_reason(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"qrels/dev\.tsv is missing"):
        load_beir(_write_beir(tmp_path / "a"), split="dev")
    with pytest.raises(ValueError, match=r"test\.tsv:2: expected query, doc, score"):
        load_beir(_write_beir(tmp_path / "b", qrels="query-id\tcorpus-id\tscore\nq1 d1 1\n"))
    with pytest.raises(ValueError, match="judges unknown document 'd9'"):
        load_beir(_write_beir(tmp_path / "c", qrels="q1\td9\t1\n"))
    with pytest.raises(ValueError, match="'q2' has no relevant document"):
        load_beir(_write_beir(tmp_path / "d", qrels="q1\td1\t1\nq2\td3\t0\n"))
    folder = _write_beir(tmp_path / "e")
    (folder / "corpus.jsonl").write_text('{"_id": "d1", "text": "x"}\nnot json\n')
    with pytest.raises(ValueError, match=r"corpus\.jsonl:2: not JSON"):
        load_beir(folder)


def test_the_measures_match_values_worked_out_by_hand():
    labelled = LabelledSet(
        name="hand",
        corpus={d: Doc(text=d) for d in ("a", "b", "c", "d")},
        queries={
            "q1": Query(text="x", kind="one"),
            "q2": Query(text="y", kind="two"),
            "q3": Query(text="z", kind="two"),
        },
        qrels={"q1": {"a": 1}, "q2": {"b": 1, "c": 1}, "q3": {"d": 1}},
    ).check()
    scores = evaluate(labelled, {"q1": ["a", "b"], "q2": ["a", "b", "d", "c"]})  # q3: nothing
    assert scores["one"] == {"ndcg10": 1.0, "recall5": 1.0, "recall20": 1.0, "mrr": 1.0,
                             "queries": 1}  # fmt: skip
    # q2: relevant at ranks 2 and 4; the ideal puts them at 1 and 2.
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    q2 = dcg / (1 + 1 / math.log2(3))
    assert scores["two"]["ndcg10"] == pytest.approx(q2 / 2, abs=1e-4)
    assert scores["two"]["mrr"] == pytest.approx(0.5 / 2, abs=1e-4)
    assert scores["two"]["recall5"] == pytest.approx(0.5, abs=1e-4)  # q2 all, q3 none
    assert scores["all"]["queries"] == 3
    assert scores["all"]["ndcg10"] == pytest.approx((1 + q2) / 3, abs=1e-4)


def test_reciprocal_rank_fusion_and_the_convex_sum_rank_as_their_papers_say():
    fused = rrf([["a", "b", "c"], ["c", "a"]], k=60)
    assert [key for key, _ in fused] == ["a", "c", "b"]
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 62)
    # One lexical hit far above the rest wins the convex sum, as RRF's ranks cannot show.
    vector = [("x", 0.61), ("y", 0.60), ("target", 0.58), ("z", 0.40), ("w", 0.35)]
    lexical = [("target", 12.0), ("x", 1.1), ("y", 1.0)]
    assert convex([vector, lexical], weights=[0.5, 0.5])[0][0] == "target"
    assert rrf([[k for k, _ in vector], [k for k, _ in lexical]])[0][0] == "x"
    assert convex([[("a", 3.0)], []], weights=[1.0, 1.0]) == [("a", 1.0)]
    with pytest.raises(ValueError, match="2 weights for 1"):
        rrf([["a"]], weights=[1.0, 1.0])


SHIPPED_DIGEST = "38c3814e38490d10"
"""`digest(build())` with the NumPy uv.lock pins."""


def test_the_shipped_set_is_big_enough_mixed_and_reproducible():
    labelled = build()
    assert len(labelled.corpus) >= 2000
    assert len(labelled.queries) >= 300
    kinds = {q.kind for q in labelled.queries.values()}
    assert kinds == {"paraphrase", "name", "code", "number"}
    for kind in kinds:
        assert sum(q.kind == kind for q in labelled.queries.values()) >= 40, kind
    # An exact-term query's term is in each of its relevant documents; a paraphrase is in none.
    for qid, query in labelled.queries.items():
        relevant = [labelled.corpus[d].text for d in labelled.qrels[qid]]
        if query.kind == "paraphrase":
            assert all(query.text.lower().rstrip(".") not in " ".join(t.split()).lower()
                       for t in relevant), qid  # fmt: skip
        else:
            prefix, suffix = TEMPLATES[query.kind].split("{}")
            term = query.text.removeprefix(prefix).removesuffix(suffix)
            assert all(term in t for t in relevant), qid
    # Reproducible: the set measured is the one every earlier figure was measured on (a new NumPy
    # in uv.lock changes it, and figures before and after do not compare: docs/quality.md).
    assert digest(labelled) == SHIPPED_DIGEST


def test_the_weight_is_chosen_on_one_half_of_the_queries_and_measured_on_the_other():
    # q1, q3 tune; q2, q4 are held out. 0.5 is perfect on the tuning half and wrong on the
    # other, 0.6 the reverse: the held-out figure is the chosen weight's miss, not its fit.
    labelled = LabelledSet(
        name="tiny",
        corpus={d: Doc(text=d) for d in ("a", "b")},
        queries={q: Query(text=q, kind="code") for q in ("q1", "q2", "q3", "q4")},
        qrels={"q1": {"a": 1}, "q2": {"a": 1}, "q3": {"b": 1}, "q4": {"b": 1}},
    )
    sweep = {
        "rrf": {q: ["a", "b"] for q in labelled.queries},
        "convex_0.5": {"q1": ["a"], "q3": ["b"], "q2": ["b"], "q4": ["a"]},
        "convex_0.6": {"q1": ["b"], "q3": ["a"], "q2": ["a"], "q4": ["b"]},
    }
    found = held_out_weight(labelled, sweep)
    assert found["chosen_on_half"] == 0.5
    assert found["held_out_ndcg10"] == 0.0
    assert found["shipped_held_out_ndcg10"] == 1.0  # LEXICAL_WEIGHT is 0.6
    assert found["queries_tuned_held_out"] == [2, 2]


def test_bench_quality_quick_prints_every_figure():
    figures, progress = run_quick("bench_quality.py", timeout=600)
    assert_positive(
        figures,
        ("vector_ndcg10", "lexical_ndcg10", "hybrid_ndcg10", "hybrid_recall20", "queries",
         "docs", "search_p99_ms_hybrid", "embed_chunks_per_s"),
    )  # fmt: skip
    assert figures["rerank_ndcg10"] is None and figures["rerank_reason"]
    # The quick run loads 1,000 chunks: no 100,000-chunk figure, and it says why.
    assert figures["search_p99_ms_hybrid_100k"] is None and figures["search_100k_reason"]
    assert not figures["targets"]["search_p99_hybrid_le_50ms_at_100k"]
    assert "in-sample" in figures["lexical_weight_tuning"]
    assert set(figures["lexical_weight_held_out"]) == {
        "chosen_on_half", "held_out_ndcg10", "shipped_held_out_ndcg10", "queries_tuned_held_out"
    }  # fmt: skip
    assert_positive(figures, ("embed_chunks_per_s_fp32", "embed_chunks_per_s_int8"))
    assert figures["embed_precision"] in ("fp32", "int8")
    chosen = figures[f"embed_chunks_per_s_{figures['embed_precision']}"]
    assert figures["embed_chunks_per_s"] == chosen
    assert (
        isinstance(figures["embed_ndcg10_delta"], float)
        and abs(figures["embed_ndcg10_delta"]) < 0.2
    )
    assert figures["cpu_flags"]
    for mode in ("vector", "lexical", "hybrid"):
        assert set(figures[f"{mode}_by_kind"]) == {"all", "paraphrase", "name", "code", "number"}
    assert "hybrid: nDCG@10" in progress


def test_bench_embedder_quick_compares_the_runners():
    figures, _ = run_quick("bench_embedder.py", timeout=300)
    assert_positive(
        figures,
        ("int8_shipped_per_s", "int8_spread_per_s", "fp32_shipped_per_s", "fp32_spread_per_s",
         "fp32_side_by_side_32_per_s", "int8_shipped_vs_spread", "fp32_shipped_vs_spread"),
    )  # fmt: skip
    # Whatever the speeds, the runner never changes a text's int8 vector.
    assert figures["int8_same_vectors_either_runner"] is True
