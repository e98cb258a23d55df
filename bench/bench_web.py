"""Benchmark of the web app (issue 11) in Debian's headless Chromium against a local `ragstack serve`.

    uv run python bench/bench_web.py            # the figures (a few minutes)
    uv run python bench/bench_web.py --quick    # tiny sizes: checks that the script works

Progress goes to stderr; the last line of stdout is one JSON object with the figures. The server
is `ragstack serve` in a temp data dir (embedded nats-server, SQLite, Chroma, the local embedder,
extractive answers), its per-token rate limit lifted so the set-up's requests are not refused.

- **First screen**: a cold visit to /signin (the first page anyone sees); the JS and CSS it
  transfers, from the browser's Resource Timing (`transferSize`, headers included, and
  `encodedBodySize`, the gzipped bodies). Target ≤ 300 KB.
- **Chapter ready**: a cold visit (fresh browser context, signed in) to a chapter's screen until
  its sources list is rendered and the question box accepts a typed key; median of the rounds,
  for a chapter of 2 sources and one of N (1,000). Baseline, in alternating rounds: the same
  visit to the sign-in screen until its e-mail field takes a key (the app without data).
- **Frame times**: the chapter of N sources, and a thread of M (500) messages asked through the
  chat, each scrolled end to end and back by its scroll container, one step per animation frame;
  the intervals between `requestAnimationFrame` callbacks (p50, p95, max; frames over 25 ms) and
  the DOM's size. Baseline: the same scroll over a static page of as many plain rows (no app).
  Whether the lists are virtualised shows in `*_dom_nodes`.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from bench.common import bench_parser, done, finished, full_and_quick, machine, median, ratio, say
from tests.serve_support import serving
from tests.web.browser import CHROMIUM, launch

PASSWORD = "correct horse battery"
FIRST_SCREEN_BUDGET_KB = 300
UPLOAD_BATCH = 100  # files per request (the server takes at most 100)
SLOW_FRAME_MS = 25.0  # a frame past one and a half 60 Hz intervals is a visible stutter
STEP_TIMEOUT_MS = 60_000
CITATION_1 = re.compile(r"^Citation 1: ")
"""Every answer's first citation mark (each answer cites at least one note)."""


@dataclass(frozen=True)
class Sizes:
    sources: int
    """Sources in the big chapter."""
    messages: int
    """Messages in the thread (a question and its answer are two)."""
    frames: int
    """Animation frames sampled per scroll."""
    rounds: int
    """Alternating rounds of the timed visits."""


FULL, QUICK = full_and_quick(
    Sizes, sources=(1000, 30), messages=(500, 10), frames=(400, 60), rounds=(5, 2)
)


# --- the server and the browser ----------------------------------------------------------------


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's headless Chromium as the browser tests launch it (never one Playwright downloads)."""
    if not CHROMIUM.is_file():
        raise SystemExit("needs Debian's chromium: apt-get install chromium")
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            yield browser
        finally:
            browser.close()


def signed_in(browser: Browser, url: str, email: str) -> BrowserContext:
    """A fresh context (cold cache) holding a session cookie for `email`."""
    context = browser.new_context(viewport={"width": 1366, "height": 768}, base_url=url)
    context.set_default_timeout(STEP_TIMEOUT_MS)
    answer = context.request.post(
        "/v1/auth/session", data={"email": email, "password": PASSWORD}, fail_on_status_code=True
    )
    assert answer.ok
    return context


# --- the data ----------------------------------------------------------------------------------


def make_chapter(api: httpx.Client, book: str, title: str, sources: int) -> str:
    """A chapter holding `sources` small text sources, all extracted; its id."""
    chapter = api.post(f"/v1/books/{book}/chapters", json={"title": title}).raise_for_status()
    chapter_id: str = chapter.json()["id"]
    for start in range(0, sources, UPLOAD_BATCH):
        files = [
            (
                "file",
                (
                    f"note-{i:04d}.txt",
                    f"Field note {i}. The station logged wind from the {('north', 'east', 'south', 'west')[i % 4]} "
                    f"at {10 + i % 50} knots and {i % 7} millimetres of rain on day {i}.\n".encode(),
                    "text/plain",
                ),
            )
            for i in range(start, min(sources, start + UPLOAD_BATCH))
        ]
        api.post(f"/v1/chapters/{chapter_id}/sources", files=files).raise_for_status()
    deadline = time.monotonic() + 1800
    while True:
        listed = api.get(f"/v1/chapters/{chapter_id}/sources").raise_for_status().json()["sources"]
        # Every source listed (the catalogue read model has folded every upload) and none pending.
        pending = sum(s["status"] == "pending" for s in listed)
        if len(listed) == sources and not pending:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{len(listed)} of {sources} listed, {pending} pending, after 30 min"
            )
        time.sleep(1)
    say(f"chapter {title!r}: {len(listed)} sources extracted")
    return chapter_id


# --- the figures -------------------------------------------------------------------------------


def first_screen(browser: Browser, url: str) -> dict[str, Any]:
    """What a cold visit to the sign-in screen transfers: its JS and CSS, by Resource Timing."""
    context = browser.new_context(base_url=url)
    try:
        page = context.new_page()
        page.goto("/signin")
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        entries = page.evaluate(
            """() => performance.getEntriesByType('resource').map(e => ({
                name: e.name, transfer: e.transferSize, encoded: e.encodedBodySize,
                decoded: e.decodedBodySize}))"""
        )
    finally:
        context.close()
    assets = [e for e in entries if e["name"].split("?")[0].endswith((".js", ".css"))]
    transferred = sum(e["transfer"] for e in assets) / 1024
    encoded = sum(e["encoded"] for e in assets) / 1024
    decoded = sum(e["decoded"] for e in assets) / 1024
    say(
        f"first screen: {len(assets)} JS/CSS files, {transferred:.1f} KB transferred "
        f"({encoded:.1f} KB gzipped bodies, {decoded:.1f} KB unpacked)"
    )
    return {
        "first_screen_files": len(assets),
        "first_screen_js_css_transferred_kb": round(transferred, 1),
        "first_screen_js_css_gzip_kb": round(encoded, 1),
        "first_screen_js_css_raw_kb": round(decoded, 1),
    }


# Timed in the page, in ms since the navigation started (so the harness's own work, such as
# resolving selectors over a 20,000-node DOM, is not billed to the app): when the screen's
# `ready` element is first in the DOM, and when the first typed key reached a field.
WATCH_JS = """(ready) => {
  const watch = new MutationObserver(() => {
    if (document.querySelector(ready)) {
      window.__shownAt = performance.now();
      watch.disconnect();
    }
  });
  watch.observe(document, {childList: true, subtree: true});
  document.addEventListener('input', () => { window.__typedAt ??= performance.now(); }, true);
}"""

# Focus the field whose label reads `label` (what a person would click), in the page.
FOCUS_JS = """(label) => {
  const field = [...document.querySelectorAll('input, textarea')]
    .find((f) => [...(f.labels || [])].some((l) => l.textContent.trim() === label));
  if (!field) throw new Error(`no field labelled ${label}`);
  field.focus();
}"""

VISIT_JS = """() => ({
  shown: window.__shownAt,
  typed: window.__typedAt,
  fetches: performance.getEntriesByType('resource')
    .filter((e) => new URL(e.name).pathname.endsWith('/sources')).length,
})"""


@dataclass
class Visit:
    ready_ms: float
    """Until the screen showed its `ready` element and a key typed then reached its field."""
    shown_ms: float
    """Until the `ready` element (the sources list's first row) was in the DOM."""
    fetches: int
    """GETs of the sources list the page made meanwhile (refreshes the change feed asked for)."""


def visit(context: BrowserContext, path: str, ready: str, field: str) -> Visit:
    """A cold visit to `path`: as soon as `ready` (a CSS selector) is in the DOM, a key is typed
    into the field labelled `field`; timed in the page."""
    context.add_init_script(f"({WATCH_JS})({json.dumps(ready)})")
    page = context.new_page()
    page.goto(path, wait_until="commit")
    page.wait_for_function("() => window.__shownAt !== undefined", polling="raf")
    page.evaluate(FOCUS_JS, field)
    page.keyboard.press("w")
    page.wait_for_function("() => window.__typedAt !== undefined", polling="raf")
    seen = page.evaluate(VISIT_JS)
    return Visit(float(seen["typed"]), float(seen["shown"]), int(seen["fetches"]))


def visit_chapter(browser: Browser, url: str, email: str, chapter: str) -> Visit:
    """A cold visit to the chapter until its sources list shows and the question box takes a
    key."""
    context = signed_in(browser, url, email)
    try:
        return visit(context, f"/chapters/{chapter}", SOURCE_ROW, "Your question")
    finally:
        context.close()


def visit_sign_in(browser: Browser, url: str) -> float:
    """The baseline: a cold visit to the sign-in screen until its e-mail field takes a key."""
    context = browser.new_context(viewport={"width": 1366, "height": 768}, base_url=url)
    context.set_default_timeout(STEP_TIMEOUT_MS)
    try:
        return visit(context, "/signin", "form[aria-labelledby] input", "E-mail").ready_ms
    finally:
        context.close()


def chapter_ready(
    browser: Browser, url: str, email: str, chapters: dict[str, str], rounds: int
) -> dict[str, Any]:
    """Median milliseconds to a usable chapter screen, for each chapter, beside the baseline."""
    visits: dict[str, list[float]] = {"signin": [], **{name: [] for name in chapters}}
    listed: dict[str, list[float]] = {name: [] for name in chapters}
    fetches: dict[str, list[float]] = {name: [] for name in chapters}
    for r in range(rounds):
        order = list(visits)
        order = order[r % len(order) :] + order[: r % len(order)]
        for name in order:
            if name == "signin":
                ms = visit_sign_in(browser, url)
                say(f"  ready, round {r + 1}/{rounds}: sign-in screen in {ms:.0f} ms")
            else:
                seen = visit_chapter(browser, url, email, chapters[name])
                ms = seen.ready_ms
                listed[name].append(seen.shown_ms)
                fetches[name].append(seen.fetches)
                say(
                    f"  ready, round {r + 1}/{rounds}: chapter of {name} in {ms:.0f} ms "
                    f"(listed at {seen.shown_ms:.0f} ms, {seen.fetches} list GETs)"
                )
            visits[name].append(ms)
    baseline = median(visits["signin"])
    figures: dict[str, Any] = {"signin_ready_ms": round(baseline, 1)}
    for name in chapters:
        value = median(visits[name])
        figures[f"chapter_{name}_ready_ms"] = round(value, 1)
        figures[f"chapter_{name}_ready_ratio"] = ratio(value, baseline)
        figures[f"chapter_{name}_listed_ms"] = round(median(listed[name]), 1)
        figures[f"chapter_{name}_list_gets"] = median(fetches[name])
    return figures


def list_api(api: httpx.Client, chapter: str, sizes: Sizes) -> dict[str, Any]:
    """The server's share of the chapter screen: GET the big chapter's sources (median ms)."""
    times = []
    for _ in range(sizes.rounds):
        t0 = time.perf_counter()
        api.get(f"/v1/chapters/{chapter}/sources").raise_for_status()
        times.append((time.perf_counter() - t0) * 1000)
    say(f"GET sources of {sizes.sources}: {median(times):.0f} ms")
    return {f"sources_{sizes.sources}_api_ms": round(median(times), 1)}


SOURCE_ROW = "[aria-label='Sources'] [role=listitem], [aria-label='Sources'] li"
"""A row of the sources list, virtualised (rows are `role=listitem`) or not (`li`)."""

# Scrolls the element (the nearest scrollable ancestor of `start`, else the page) from top to
# bottom and back, one step per animation frame, and returns the intervals between frames.
SCROLL_JS = """async ({start, frames}) => {
  const scroller = (el) => {
    for (let e = el; e && e !== document.body; e = e.parentElement) {
      const style = getComputedStyle(e);
      if (/(auto|scroll)/.test(style.overflowY) && e.scrollHeight > e.clientHeight + 1) return e;
    }
    return document.scrollingElement;
  };
  const el = scroller(document.querySelector(start) || document.body);
  const range = Math.max(1, el.scrollHeight - el.clientHeight);
  const step = Math.max(20, (2 * range) / frames);
  el.scrollTop = 0;
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  const gaps = [];
  let down = true;
  let last = await new Promise((r) => requestAnimationFrame(r));
  for (let i = 0; i < frames; i++) {
    if (down && el.scrollTop >= range - 1) down = false;
    else if (!down && el.scrollTop <= 0) down = true;
    el.scrollTop += down ? step : -step;
    const now = await new Promise((r) => requestAnimationFrame(r));
    gaps.push(now - last);
    last = now;
  }
  return {gaps, range, nodes: document.getElementsByTagName('*').length,
          scroller: el === document.scrollingElement ? 'page' : el.tagName.toLowerCase()};
}"""


def frame_stats(prefix: str, sample: dict[str, Any]) -> dict[str, Any]:
    gaps = sorted(sample["gaps"])
    p95 = gaps[min(len(gaps) - 1, int(0.95 * len(gaps)))]
    return {
        f"{prefix}_frame_p50_ms": round(median(gaps), 2),
        f"{prefix}_frame_p95_ms": round(p95, 2),
        f"{prefix}_frame_max_ms": round(gaps[-1], 2),
        f"{prefix}_slow_frames": sum(g > SLOW_FRAME_MS for g in gaps),
        f"{prefix}_dom_nodes": sample["nodes"],
        f"{prefix}_scroll_px": round(sample["range"]),
        f"{prefix}_scroller": sample["scroller"],
    }


def static_rows(page: Page, rows: int, frames: int, scroll_px: int) -> dict[str, Any]:
    """The baseline: the same scroll over a static page of at least `rows` plain rows, and at
    least `scroll_px` to scroll (so it moves as far per frame as the app's list did)."""
    rows = max(rows, scroll_px // 40 + 40)  # a row is about 45 px high
    body = "".join(
        f"<li><b>note-{i:04d}.txt</b><br><small>extracted · 120 B</small></li>" for i in range(rows)
    )
    page.set_content(
        f"<!doctype html><html lang=en><title>rows</title><ul style='font:15px/1.5 sans-serif'>"
        f"{body}</ul></html>"
    )
    sample: dict[str, Any] = page.evaluate(SCROLL_JS, {"start": "ul", "frames": frames})
    return sample


def scroll_sources(
    browser: Browser, url: str, email: str, chapter: str, sources: int, frames: int
) -> dict[str, Any]:
    context = signed_in(browser, url, email)
    try:
        page = context.new_page()
        page.goto(f"/chapters/{chapter}")
        expect(
            page.get_by_role("list", name="Sources").get_by_role("listitem").first
        ).to_be_visible()
        app = page.evaluate(SCROLL_JS, {"start": SOURCE_ROW, "frames": frames})
        rendered = page.get_by_role("list", name="Sources").get_by_role("listitem").count()
        base = static_rows(context.new_page(), sources, frames, app["range"])
    finally:
        context.close()
    figures = {**frame_stats("sources", app), **frame_stats("sources_baseline", base)}
    figures["sources_rendered_rows"] = rendered
    figures["sources_frame_p95_ratio"] = ratio(
        figures["sources_frame_p95_ms"], figures["sources_baseline_frame_p95_ms"]
    )
    say(f"sources scroll: {json.dumps({k: v for k, v in figures.items() if 'frame' in k})}")
    return figures


def scroll_thread(
    browser: Browser, url: str, email: str, chapter: str, messages: int, frames: int
) -> dict[str, Any]:
    """A thread of `messages` asked through the chat, then scrolled."""
    context = signed_in(browser, url, email)
    try:
        page = context.new_page()
        page.goto(f"/chapters/{chapter}")
        box = page.get_by_label("Your question")
        answers = page.get_by_role("button", name="Ask")
        t0 = time.perf_counter()
        thread = page.get_by_role("list", name="Messages").get_by_role("listitem")
        for i in range(messages // 2):
            box.fill(f"What wind did the station log on day {i}?")
            answers.click()
            # The next question can be asked once this answer has finished streaming: the list
            # holds i + 1 turns (a virtualised list renders only some, each knowing the total)
            # and the newest shows its citation (the list follows its end).
            expect(thread.first).to_have_attribute("aria-setsize", str(i + 1))
            expect(thread.last.get_by_role("button", name=CITATION_1)).to_be_visible()
            expect(answers).to_be_visible()
            if (i + 1) % 50 == 0:
                say(f"  thread: {2 * (i + 1)} messages ({time.perf_counter() - t0:.0f} s)")
        asked_s = time.perf_counter() - t0
        app = page.evaluate(SCROLL_JS, {"start": "[aria-label^='Citation 1']", "frames": frames})
        rendered = page.get_by_role("button", name=CITATION_1).count()
        base = static_rows(context.new_page(), messages, frames, app["range"])
    finally:
        context.close()
    figures = {**frame_stats("thread", app), **frame_stats("thread_baseline", base)}
    figures["thread_rendered_answers"] = rendered
    figures["thread_frame_p95_ratio"] = ratio(
        figures["thread_frame_p95_ms"], figures["thread_baseline_frame_p95_ms"]
    )
    figures["thread_ask_per_answer_ms"] = round(1000 * asked_s / max(1, messages // 2), 1)
    say(f"thread scroll: {json.dumps({k: v for k, v in figures.items() if 'frame' in k})}")
    return figures


def main() -> None:
    args = bench_parser(__doc__).parse_args()
    sizes = QUICK if args.quick else FULL
    expect.set_options(timeout=STEP_TIMEOUT_MS)  # a busy machine renders 1,000 rows slowly
    figures: dict[str, Any] = {"machine": machine()}
    with (
        tempfile.TemporaryDirectory(prefix="ragstack-bench-web-") as tmp,
        # The per-token rate limit lifted: the set-up's thousand uploads are not refused.
        serving(Path(tmp), RAGSTACK_LIMITS_REQUESTS_PER_MINUTE_TOKEN="0") as served,
    ):
        url = served.url
        say(f"ragstack serve at {url}, data in {served.data}")
        email = "bench@example.com"
        signup = httpx.post(
            f"{url}/v1/auth/signup", json={"email": email, "password": PASSWORD}, timeout=60
        ).raise_for_status()
        token = signup.json()["token"]
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=300
        ) as api:
            book = api.post("/v1/books", json={"name": "Bench"}).raise_for_status().json()["id"]
            t0 = time.perf_counter()
            small = make_chapter(api, book, "Two", 2)
            big = make_chapter(api, book, "Many", sizes.sources)
            say(f"data made in {time.perf_counter() - t0:.0f} s")
            figures |= list_api(api, big, sizes)
        with chromium() as browser:
            say(f"Chromium {browser.version}")
            figures |= first_screen(browser, url)
            figures |= chapter_ready(
                browser, url, email, {"2": small, str(sizes.sources): big}, sizes.rounds
            )
            figures |= scroll_sources(browser, url, email, big, sizes.sources, sizes.frames)
            figures |= scroll_thread(browser, url, email, small, sizes.messages, sizes.frames)
    targets = {
        "first_screen_le_300kb": figures["first_screen_js_css_transferred_kb"]
        <= FIRST_SCREEN_BUDGET_KB,
        # Virtualised: only the rows in view (and a margin) are in the DOM.
        "sources_virtualised": figures["sources_rendered_rows"] < sizes.sources,
        "thread_virtualised": figures["thread_rendered_answers"] < sizes.messages // 2,
    }
    done(finished(figures, sizes, targets))


if __name__ == "__main__":
    main()
