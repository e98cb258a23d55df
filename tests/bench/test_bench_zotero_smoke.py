"""bench/bench_zotero.py still runs: `--quick` prints the figures issue 13 asks for, and a second
sync with nothing changed appended nothing on either path."""

from __future__ import annotations

from tests.bench.bench_support import assert_no_nats_server_left, assert_positive, run_quick


def test_bench_zotero_quick_prints_every_figure():
    figures, progress = run_quick("bench_zotero.py", timeout=300)
    assert_positive(
        figures,
        ("engine_first_sync_s", "engine_first_events", "api_first_sync_s", "api_first_events"),
    )
    assert all(figures["targets"].values()), figures["targets"]
    assert figures["engine_second_events"] == 0 and figures["api_second_events"] == 0
    assert_no_nats_server_left(progress)
