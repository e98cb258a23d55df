"""What the benchmark smoke tests share: running a script's `--quick` mode as the README says, and
checking that it printed its figures and left no nats-server behind."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tests.serve_support import nats_servers_on

ROOT = Path(__file__).resolve().parents[2]


def run_quick(script: str, *, timeout: float) -> tuple[dict[str, Any], str]:
    """Run `bench/<script> --quick` (tiny sizes) in a fresh interpreter, which must succeed.

    Returns the figures (the JSON object on the last stdout line) and stderr (the progress).
    """
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    lines = run.stdout.strip().splitlines()
    assert lines, f"no result on stdout; stderr:\n{run.stderr[-3000:]}"
    return json.loads(lines[-1]), run.stderr


def assert_positive(figures: dict[str, Any], keys: Iterable[str]) -> None:
    """Every figure of `keys` is there and is a positive number."""
    for key in keys:
        assert isinstance(figures[key], int | float), (key, figures[key])
        assert figures[key] > 0, (key, figures[key])


def assert_no_nats_server_left(progress: str) -> None:
    """The nats-server whose store the benchmark named in its progress is gone with it."""
    store = re.search(r"store (\S+)", progress)
    assert store is not None
    assert not nats_servers_on(Path(store[1]))
