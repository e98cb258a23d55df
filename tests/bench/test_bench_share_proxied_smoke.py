"""bench/bench_share_proxied.py runs (`--quick`) and prints the proxied figures issue 9 asks for:
compaction shrinks an edit-heavy tick, and 100 polling guests cost one owner read per tick."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_share_proxied_quick_prints_its_figures():
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_share_proxied.py"), "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    figures = json.loads(run.stdout.strip().splitlines()[-1])
    assert 0 < figures["proxied_compaction_ratio"] < 1
    assert figures["proxied_served_events_per_tick"] < figures["proxied_raw_events_per_tick"]
    assert figures["owner_reads_per_tick_100_guests"] == 1
    assert figures["proxied_polls"] > 10 * figures["proxied_owner_reads"]
