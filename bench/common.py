"""Shared helpers for the benchmarks: progress on stderr, timing, alternating rounds, peak RSS,
child processes, an embedded nats-server in a temp dir, and the one JSON line on stdout.

Every benchmark prints human-readable progress to stderr and exactly one JSON object as the last
line of stdout (`emit`), so that scripts can compare runs with `tail -n 1`. A figure that is
compared with a baseline is measured in alternating rounds (`alternate`) so that noise from other
work on the machine hits the contender and the baseline alike.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

from engine.nats import NATS, open_nats
from engine.server import EmbeddedServer

__all__ = [
    "alternate",
    "bench_parser",
    "child_result",
    "done",
    "elapsed",
    "embedded_nats",
    "emit",
    "finished",
    "full_and_quick",
    "machine",
    "median",
    "median_seconds",
    "peak_rss_mb",
    "ratio",
    "run_child",
    "say",
]

S = TypeVar("S")

_START = time.perf_counter()
PEAK_RSS_KEY = "peak_rss_mb"
"""The key under which `child_result` reports the child's own peak RSS."""


def full_and_quick(sizes: Callable[..., S], **knobs: tuple[Any, Any]) -> tuple[S, S]:
    """A benchmark's FULL sizes (for the figures) and QUICK ones (to check that the script runs),
    each knob given once as `(full, quick)` so that the two values stand side by side."""
    full = sizes(**{name: pair[0] for name, pair in knobs.items()})
    quick = sizes(**{name: pair[1] for name, pair in knobs.items()})
    return full, quick


def elapsed() -> float:
    """Seconds since this module was imported (about when the benchmark started)."""
    return time.perf_counter() - _START


def say(message: str) -> None:
    """A progress line on stderr (stdout is kept for the JSON result)."""
    print(f"[{elapsed():7.1f}s] {message}", file=sys.stderr, flush=True)


def median(values: Sequence[float]) -> float:
    """The median (of the rounds of one contender)."""
    if not values:
        raise ValueError("no values to take the median of")
    return float(statistics.median(values))


def ratio(value: float, baseline: float) -> float:
    """`value / baseline`, rounded for the report (0 when the baseline is 0)."""
    return round(value / baseline, 3) if baseline > 0 else 0.0


async def alternate(
    rounds: int, contenders: Mapping[str, Callable[[], Awaitable[int]]]
) -> dict[str, list[float]]:
    """Run every contender `rounds` times, alternating them and rotating who goes first each
    round, so that noise on a shared machine (other processes, a server compaction, a warm
    cache) hits each alike. A contender returns how many items it handled; the answer is each
    contender's items per second, round by round."""
    names = list(contenders)
    rates: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            t0 = time.perf_counter()
            count = await contenders[name]()
            seconds = time.perf_counter() - t0
            rates[name].append(count / seconds if seconds > 0 else 0.0)
            say(
                f"  {name}, round {r + 1}/{rounds}: {count:,} in {seconds:.2f} s = {rates[name][-1]:,.0f}/s"
            )
    return rates


def median_seconds(fn: Callable[[], object], repeat: int) -> float:
    """The median wall time of `repeat` calls of a synchronous `fn`."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return median(times)


def _vm_hwm_kib(pid: int | str = "self") -> int | None:
    """The peak RSS of a process's current address space (Linux `VmHWM`), in KiB."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def peak_rss_mb() -> float:
    """This process's peak resident set size in MiB.

    On Linux this is `VmHWM`, not getrusage's `ru_maxrss`: the kernel carries the high-water mark
    of the address space a process replaced by exec over into its `ru_maxrss` (and so into the
    parent's RUSAGE_CHILDREN), so a child started by a 150 MB parent reports 150 MB before it
    has done anything. `VmHWM` belongs to the process's own address space."""
    kib = _vm_hwm_kib()
    if kib is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        kib = usage.ru_maxrss // 1024 if sys.platform == "darwin" else usage.ru_maxrss
    return round(kib / 1024, 1)


async def _watch_peak(pid: int, peak: list[float]) -> None:
    """Sample a child's `VmHWM` until cancelled (a running maximum, so sampling loses little)."""
    while True:
        kib = _vm_hwm_kib(pid)
        if kib is not None:
            peak[0] = max(peak[0], round(kib / 1024, 1))
        await asyncio.sleep(0.05)


def machine() -> dict[str, Any]:
    """What the figures were measured on, and how busy the machine was (load average)."""
    return {
        "cpus": os.cpu_count(),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
    }


def bench_parser(doc: str | None) -> argparse.ArgumentParser:
    """A benchmark's command line: described by its docstring's first line, with `--quick`."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to check the script")
    return parser


def finished(figures: dict[str, Any], sizes: Any, targets: Mapping[str, bool]) -> dict[str, Any]:
    """`figures` with what every run ends on: the issue's bars it met or not (`targets`), the
    sizes it ran at (a dataclass), the machine's load at the end and the wall time."""
    figures["targets"] = dict(targets)
    figures["sizes"] = asdict(sizes)
    figures["machine_end"] = machine()
    figures["elapsed_s"] = round(elapsed(), 1)
    return figures


def done(figures: Mapping[str, Any]) -> None:
    """Say how long the run took, and print its figures (`emit`)."""
    say(f"done in {figures['elapsed_s']} s")
    emit(figures)


def emit(result: Mapping[str, Any]) -> None:
    """Print the result as one JSON object on one line: the last line of stdout."""
    sys.stderr.flush()
    print(json.dumps(result, separators=(", ", ": ")), flush=True)


def child_result(result: Mapping[str, Any]) -> None:
    """In a child started by `run_child`: print its result with its own peak RSS."""
    emit({**result, PEAK_RSS_KEY: peak_rss_mb()})


async def run_child(
    args: Sequence[str],
    *,
    stdin: bytes = b"",
    timeout: float = 600.0,  # noqa: ASYNC109 - one bound for the whole child run, kept simple for callers
) -> tuple[dict[str, Any], float]:
    """Run `python args…` (stderr passes through), feed it `stdin`, and return the JSON object
    on the last line of its stdout and the child's peak RSS in MiB.

    The peak is the larger of the child's own report (`child_result`) and the parent's samples
    of the child's `VmHWM` while it ran (which cover a child that does not report)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    sampled = [0.0]
    watch = asyncio.ensure_future(_watch_peak(proc.pid, sampled))
    try:
        out, _ = await asyncio.wait_for(proc.communicate(stdin), timeout)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise
    finally:
        watch.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watch
    if proc.returncode != 0:
        raise RuntimeError(f"the child {' '.join(args)} exited with status {proc.returncode}")
    lines = out.decode().strip().splitlines()
    if not lines:
        raise RuntimeError(f"the child {' '.join(args)} printed no result")
    result = dict(json.loads(lines[-1]))
    return result, max(float(result.get(PEAK_RSS_KEY, 0.0)), sampled[0])


@contextlib.asynccontextmanager
async def embedded_nats(
    prefix: str = "ragstack-bench-",
) -> AsyncIterator[tuple[EmbeddedServer, NATS]]:
    """A fresh embedded nats-server (durable: `sync_interval: always`) in a temp dir, and the
    engine's connection to it (said on stderr); both go away, with the store, at the end of the block."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        server = EmbeddedServer(Path(tmp) / "nats")
        await server.start()
        say(
            f"embedded nats-server at {server.url} (sync_interval: always), store {server.data_dir}"
        )
        try:
            nc = await open_nats(server.url, server.user, server.password)
            try:
                yield server, nc
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(nc.close(), 5)
        finally:
            await server.stop()
