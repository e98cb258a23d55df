"""bench/bench_share.py still runs: `--quick` (tiny sizes) prints one JSON object on its last
stdout line with the copy, proxied and direct figures. Timing itself belongs in bench/; this
checks only that the figures exist, are positive, and were measured on what was written."""

from __future__ import annotations

from tests.bench.bench_support import assert_no_nats_server_left, assert_positive, run_quick

FIGURES = (
    "copy_100k_s",
    "copy_build_manifest_s",
    "copy_import_s",
    "copy_verify_s",
    "copy_baseline_append_s",
    "copy_import_vs_append",
    "copy_manifest_mb",
    "proxied_compaction_ratio",
    "owner_reads_per_tick_100_guests",
    "direct_p50_ms",
    "direct_p99_ms",
    "direct_baseline_transport_p50_ms",
)


def test_bench_share_quick_prints_every_figure_and_cleans_up():
    figures, progress = run_quick("bench_share.py", timeout=180)
    assert_positive(figures, FIGURES)
    # The copy was of the chapter asked for, and the total is its three parts.
    assert figures["copy_events"] == figures["sizes"]["copy_events"]
    assert 0 < figures["copy_copied_events"] < figures["copy_events"]
    parts = ("copy_build_manifest_s", "copy_import_s", "copy_verify_s")
    assert abs(figures["copy_100k_s"] - sum(figures[k] for k in parts)) < 0.01
    # Compaction saved something on an edit-heavy tick; every append reached the replica.
    assert figures["proxied_compaction_ratio"] < 1
    assert figures["direct_events"] == figures["sizes"]["direct_events"]
    assert set(figures["targets"]) and all(isinstance(v, bool) for v in figures["targets"].values())
    assert_no_nats_server_left(progress)
