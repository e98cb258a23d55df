"""bench/bench_share.py still runs: `--quick` (tiny sizes) prints one JSON object on its last
stdout line with the copy figures. Timing itself belongs in bench/; this checks only that the
figures exist, are positive, and were measured on what was written."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]

COPY_KEYS = (
    "copy_100k_s",
    "copy_build_manifest_s",
    "copy_import_s",
    "copy_verify_s",
    "copy_baseline_append_s",
    "copy_import_vs_append",
    "copy_manifest_mb",
)


def _nats_servers_on(store: str) -> list[int]:
    pids = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        if proc.info["name"] == "nats-server" and any(
            store in a for a in proc.info["cmdline"] or ()
        ):
            pids.append(proc.pid)
    return pids


def test_bench_share_quick_prints_the_copy_figures_and_cleans_up():
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_share.py"), "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-3000:]

    # The last stdout line is the JSON object; progress went to stderr.
    figures = json.loads(run.stdout.strip().splitlines()[-1])
    assert "copy: import_copy" in run.stderr
    for key in COPY_KEYS:
        assert isinstance(figures[key], (int, float)), key
        assert figures[key] > 0, (key, figures[key])

    # The copy was of the chapter asked for, and the total is its three parts.
    assert figures["copy_events"] == figures["sizes"]["copy_events"]
    assert 0 < figures["copy_copied_events"] < figures["copy_events"]
    parts = ("copy_build_manifest_s", "copy_import_s", "copy_verify_s")
    assert abs(figures["copy_100k_s"] - sum(figures[k] for k in parts)) < 0.01
    assert set(figures["targets"]) and all(isinstance(v, bool) for v in figures["targets"].values())

    # The benchmark's own nats-server is gone with it.
    store = re.search(r"store (\S+)", run.stderr)
    assert store is not None
    assert not _nats_servers_on(store[1])
