"""The benchmarks still run: each script's `--quick` mode (tiny sizes) prints one JSON object on
its last stdout line with every figure the issue asks for. Timing itself belongs in bench/; these
tests check only that the figures exist, are positive and were measured on what was written."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]

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


def _nats_servers_on(store: str) -> list[int]:
    """Running nats-server processes whose configuration lies in `store`."""
    pids = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        if proc.info["name"] == "nats-server" and any(
            store in a for a in proc.info["cmdline"] or ()
        ):
            pids.append(proc.pid)
    return pids


def test_bench_log_quick_prints_every_figure_and_cleans_up():
    # Run the script as the README says, with tiny sizes.
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_log.py"), "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-3000:]

    # The last stdout line is the JSON object; progress went to stderr.
    lines = run.stdout.strip().splitlines()
    figures = json.loads(lines[-1])
    assert "sequential durable appends" in run.stderr
    for key in LOG_KEYS:
        assert isinstance(figures[key], (int, float)), key
        assert figures[key] > 0, (key, figures[key])

    # The sections measured what they were sized for: every event was replayed and verified,
    # the child's peak RSS is that of a real interpreter, the diff's patch is non-trivial.
    sizes = figures["sizes"]
    assert figures["replay_events"] == sizes["rounds"] * sizes["bulk_events"]
    assert figures["replay_1m_events"] == sizes["big_events"]
    assert 10 < figures["replay_1m_peak_rss_mb"] < 1000
    assert 0 < figures["diff_patch_bytes"] < figures["diff_text_bytes"]
    assert set(figures["targets"]) and all(isinstance(v, bool) for v in figures["targets"].values())

    # The benchmark's own nats-server is gone with it.
    store = re.search(r"store (\S+)", run.stderr)
    assert store is not None
    assert not _nats_servers_on(store[1])
