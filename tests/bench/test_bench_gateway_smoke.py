"""bench/bench_gateway.py works: at tiny sizes it runs the whole system, prints one JSON object
on its last stdout line, and that object carries the figures issue 4 asks for (the figures
themselves are for the benchmark, not for a test)."""

from __future__ import annotations

from tests.bench.bench_support import run_quick

FIGURES = (
    "pdf20_upload_to_searchable_s",
    "search_rps_50c",
    "search_p99_ms_50c",
    "first_token_overhead_ms",
)


def test_quick_run_prints_the_figures_as_one_json_line():
    # Run it as a user would: a fresh interpreter, progress on stderr, the result on stdout.
    result, _ = run_quick("bench_gateway.py", timeout=240)

    # Every figure is there and is a number; times and rates are positive.
    for key in FIGURES:
        assert isinstance(result[key], int | float), (key, result[key])
    assert result["pdf20_upload_to_searchable_s"] > 0
    assert result["search_rps_50c"] > 0
    assert result["search_p99_ms_50c"] >= result["search_p50_ms_50c"] > 0
    assert result["first_token_ms"] > 0 and result["retrieval_ms"] > 0
    # The overhead is the difference of two medians, so it may be slightly negative on noise.
    overhead = result["first_token_ms"] - result["retrieval_ms"]
    assert abs(result["first_token_overhead_ms"] - overhead) <= 0.15

    # The quick sizes were used and the index was filled in full; the corpus is named.
    assert result["quick"] is True
    assert len(result["pdf_runs_s"]) == 2
    assert result["search_chunks"] == 1000
    assert "synthetic" in result["search_corpus"]
    assert result["search_requests"] > 0
    assert result["search_errors"] * 100 <= result["search_requests"]
