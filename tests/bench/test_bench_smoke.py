"""The benchmarks still run: each script's `--quick` mode (tiny sizes) prints one JSON object on
its last stdout line with every figure the issue asks for. Timing itself belongs in bench/; these
tests check only that the figures exist, are positive and were measured on what was written."""

from __future__ import annotations

from tests.bench.bench_support import assert_no_nats_server_left, assert_positive, run_quick

LOG_KEYS = (
    "append_seq_eps",
    "raw_seq_eps",
    "append_seq_ratio",
    "bulk_eps",
    "raw_async_eps",
    "bulk_ratio",
    "replay_verify_eps",
    "raw_replay_eps",
    "replay_ratio",
    "replay_1m_peak_rss_mb",
    "chain_verify_speedup",
    "diff_speedup",
)


def test_bench_log_quick_prints_every_figure_and_cleans_up():
    # The last stdout line is the JSON object; progress went to stderr.
    figures, progress = run_quick("bench_log.py", timeout=120)
    assert "sequential durable appends" in progress
    assert_positive(figures, LOG_KEYS)

    # The sections measured what they were sized for: every event was replayed and verified,
    # the child's peak RSS is that of a real interpreter, the diff's patch is non-trivial.
    sizes = figures["sizes"]
    assert figures["replay_events"] == sizes["rounds"] * sizes["bulk_events"]
    assert figures["replay_1m_events"] == sizes["big_events"]
    assert 10 < figures["replay_1m_peak_rss_mb"] < 1000
    assert 0 < figures["diff_patch_bytes"] < figures["diff_text_bytes"]
    assert set(figures["targets"]) and all(isinstance(v, bool) for v in figures["targets"].values())

    # The benchmark's own nats-server is gone with it.
    assert_no_nats_server_left(progress)
