"""bench/bench_audit.py still runs: its `--quick` mode prints every figure issue 10 asks for,
measured on what it wrote, and leaves no nats-server behind."""

from __future__ import annotations

from tests.bench.bench_support import assert_no_nats_server_left, assert_positive, run_quick

AUDIT_KEYS = (
    "verify_1m_eps",
    "verify_1m_peak_rss_mb",
    "state_at_rev_100k_ms",
    "inclusion_proof_bytes",
    "inclusion_proof_ms",
    "consistency_proof_bytes",
    "consistency_proof_ms",
    "raw_read_1m_eps",
    "state_read_only_100k_ms",
    "state_fresh_fold_100k_ms",
    "state_first_question_100k_ms",
    "inclusion_proof_log_ms",
    "consistency_proof_log_ms",
    "tree_fold_eps",
)


def test_bench_audit_quick_prints_every_figure_and_cleans_up():
    figures, progress = run_quick("bench_audit.py", timeout=120)
    assert "verifying" in progress and "stored tree" in progress
    assert_positive(figures, AUDIT_KEYS)
    sizes = figures["sizes"]
    # Verified and proved over the chapter it wrote: every event, proofs of a log2-sized path.
    assert figures["verify_1m_events"] == figures["proof_events"] == sizes["big_events"]
    depth = (sizes["big_events"] - 1).bit_length()
    assert figures["inclusion_proof_bytes"] <= 32 * depth
    assert figures["consistency_proof_bytes"] <= 32 * (2 * depth)
    assert 10 < figures["verify_1m_peak_rss_mb"] < 1000
    assert all(isinstance(v, bool) for v in figures["targets"].values())
    assert_no_nats_server_left(progress)
