"""bench/bench_web.py still runs: `--quick` (tiny sizes, Debian's Chromium against a real
`ragstack serve`) prints one JSON object on its last stdout line with the first screen's bytes,
the chapter screen's time to usable and the scroll frame times. Timing itself belongs in bench/;
this checks only that the figures exist, are positive, and were measured on what was made."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.bench.bench_support import assert_positive, run_quick
from tests.serve_support import nats_servers_on
from tests.web.browser import require_chromium

FIGURES = (
    "first_screen_js_css_transferred_kb",
    "first_screen_js_css_gzip_kb",
    "signin_ready_ms",
    "chapter_2_ready_ms",
    "chapter_2_ready_ratio",
    "sources_frame_p50_ms",
    "sources_frame_p95_ms",
    "sources_baseline_frame_p95_ms",
    "sources_frame_p95_ratio",
    "thread_frame_p95_ms",
    "thread_baseline_frame_p95_ms",
    "thread_frame_p95_ratio",
    "thread_ask_per_answer_ms",
)


@pytest.mark.timeout(300)
def test_bench_web_quick_prints_every_figure_and_cleans_up():
    require_chromium()
    figures, progress = run_quick("bench_web.py", timeout=280)
    sources = figures["sizes"]["sources"]
    assert_positive(figures, (*FIGURES, f"chapter_{sources}_ready_ms"))
    # The first screen fetched its script and stylesheet, gzipped (smaller than unpacked).
    assert figures["first_screen_files"] >= 2
    assert figures["first_screen_js_css_gzip_kb"] < figures["first_screen_js_css_raw_kb"]
    # The lists were on the page (all of them, or the part in view once virtualised).
    assert 0 < figures["sources_rendered_rows"] <= sources
    assert 0 < figures["thread_rendered_answers"] <= figures["sizes"]["messages"] // 2
    assert set(figures["targets"]) and all(isinstance(v, bool) for v in figures["targets"].values())
    data = re.search(r"data in (\S+)", progress)
    assert data is not None
    assert not nats_servers_on(Path(data[1]))
