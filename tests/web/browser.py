"""A real headless Chromium for the web app's end-to-end tests and its benchmark: Debian's
/usr/bin/chromium driven by Playwright for Python (never a browser Playwright downloads), the
axe-core accessibility pass, and screenshots of a screen in both themes at laptop and phone
widths.

Where /usr/bin/chromium is missing the tests skip naming the Debian package (a failure under
RAGSTACK_TEST_STRICT=1, as in CI, whose .ci/run installs it).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from tests.requirements import missing_requirement
from tests.web.pages import STEP_TIMEOUT_MS

CHROMIUM = Path("/usr/bin/chromium")
"""Debian's Chromium (package `chromium`): the only browser the tests run."""
SCREENSHOTS_ENV = "RAGSTACK_SCREENSHOTS_DIR"
"""Where the e2e run saves its screenshots (else a folder under pytest's temporary directory)."""
AXE = Path(__file__).resolve().parents[2] / "web" / "node_modules" / "axe-core" / "axe.min.js"
"""axe-core, pinned in web/package.json's devDependencies (installed by the `web_app` fixture)."""

Theme = Literal["light", "dark"]
LAPTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
VIEWPORTS = {"laptop": LAPTOP, "phone": PHONE}
THEMES: tuple[Theme, ...] = ("light", "dark")

# Violations at these impacts fail the pass (issue 11); "minor" and "moderate" ones are reported.
BLOCKING_IMPACTS = frozenset({"serious", "critical"})


def require_chromium() -> Path:
    """Debian's Chromium, else skip (or fail under RAGSTACK_TEST_STRICT=1) naming the package."""
    if not CHROMIUM.is_file() or not os.access(CHROMIUM, os.X_OK):
        missing_requirement(
            "Debian's chromium for the web app's browser tests", install="apt-get install chromium"
        )
    return CHROMIUM


def require_axe() -> Path:
    """axe-core's script in web/node_modules, else skip (or fail) saying to reinstall them (a
    node_modules from before axe-core was added lacks it)."""
    if not AXE.is_file():
        missing_requirement("axe-core in web/node_modules", install="cd web && npm ci")
    return AXE


@contextmanager
def chromium() -> Iterator[Browser]:
    """Headless Debian Chromium for the block."""
    executable = require_chromium()
    with sync_playwright() as playwright:
        browser = launch(playwright, executable)
        try:
            yield browser
        finally:
            browser.close()


def launch(playwright: Playwright, executable: Path = CHROMIUM) -> Browser:
    # --no-sandbox: the tests run as root in CI containers, where Chromium's sandbox cannot start.
    return playwright.chromium.launch(
        executable_path=str(executable), headless=True, args=["--no-sandbox"]
    )


def new_context(browser: Browser, viewport: dict[str, int] = LAPTOP) -> BrowserContext:
    """A fresh context (one person: own cookies) whose every step waits up to STEP_TIMEOUT_MS."""
    made = browser.new_context(viewport=viewport, locale="en-GB")  # type: ignore[arg-type]
    made.set_default_timeout(STEP_TIMEOUT_MS)
    return made


_REPORTS_WRITTEN: set[Path] = set()

SCREENSHOT_FOLDERS: list[Path] = []
"""The folders screenshots went to in this run (tests/web/conftest.py names them at the end)."""


def screenshots_dir(fallback: Path) -> Path:
    """`RAGSTACK_SCREENSHOTS_DIR` when set, else `fallback`; created, and named at the end of the
    pytest run. Every browser test module of a run shares the first folder chosen, so a person
    finds all the screens in one place."""
    if SCREENSHOT_FOLDERS:
        return SCREENSHOT_FOLDERS[0]
    chosen = Path(os.environ[SCREENSHOTS_ENV]) if os.environ.get(SCREENSHOTS_ENV) else fallback
    chosen.mkdir(parents=True, exist_ok=True)
    SCREENSHOT_FOLDERS.append(chosen)
    return chosen


def set_theme(page: Page, theme: Theme) -> None:
    """Show the app in `theme` the way a person's system would ask for it (the app follows the
    system's colour scheme unless its toggle was used)."""
    page.emulate_media(color_scheme=theme)


@dataclass
class Violation:
    """One axe-core rule the page breaks, with the elements that break it."""

    rule: str
    impact: str
    help: str
    targets: list[str]

    def __str__(self) -> str:
        return f"{self.impact} {self.rule} ({self.help}): {', '.join(self.targets[:5])}"


def axe_violations(page: Page) -> list[Violation]:
    """Run axe-core (WCAG 2.x A and AA rules) on the page as it is now; every violation.

    The script is evaluated through the DevTools protocol, which the app's strict CSP (no inline
    scripts) rightly does not cover, so the check needs no CSP bypass in the browser."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text())
    result: dict[str, Any] = page.evaluate(
        """async () => {
            const r = await window.axe.run(document, {
                runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa',
                                                'best-practice']},
                resultTypes: ['violations'],
            });
            return {violations: r.violations.map(v => ({
                rule: v.id, impact: v.impact || 'minor', help: v.help,
                targets: v.nodes.map(n => n.target.join(' ')),
            }))};
        }"""
    )
    return [Violation(**v) for v in result["violations"]]


@dataclass
class ScreenCheck:
    """Screenshots and accessibility results of the app's screens, gathered over a test run."""

    folder: Path
    saved: list[Path] = field(default_factory=list)
    blocking: dict[str, list[str]] = field(default_factory=dict)
    reported: dict[str, list[str]] = field(default_factory=dict)

    def capture(self, page: Page, screen: str, *, accessibility: bool = True) -> None:
        """Screenshots of `screen` (light and dark, laptop and phone) and an axe pass on each;
        the page is left at laptop width in the light theme. Fails on a serious or critical
        violation, naming each (all found are kept for `write_report`)."""
        found: list[str] = []
        for theme in THEMES:
            set_theme(page, theme)
            for width, size in VIEWPORTS.items():
                page.set_viewport_size(size)
                path = self.folder / f"{screen}-{theme}-{width}.png"
                # The caret blinks and animations run: freeze both so shots compare across runs.
                page.screenshot(path=str(path), full_page=True, animations="disabled", caret="hide")
                self.saved.append(path)
                if not accessibility:
                    continue
                where = f"{screen} ({theme}, {width})"
                for violation in axe_violations(page):
                    blocking = violation.impact in BLOCKING_IMPACTS
                    bucket = self.blocking if blocking else self.reported
                    bucket.setdefault(where, []).append(str(violation))
                    if blocking:
                        found.append(f"{where}: {violation}")
        page.set_viewport_size(LAPTOP)
        set_theme(page, "light")
        assert not found, "axe-core found serious or critical violations:\n" + "\n".join(found)

    def write_report(self) -> Path:
        """accessibility.json beside the screenshots: every violation found, by screen, added to
        what other modules of the run (sharing the folder) wrote there."""
        path = self.folder / "accessibility.json"
        report: dict[str, dict[str, list[str]]] = {"blocking": {}, "reported": {}}
        if path in _REPORTS_WRITTEN:  # this run's, not one left by an earlier run
            report = json.loads(path.read_text())
        report["blocking"].update(self.blocking)
        report["reported"].update(self.reported)
        path.write_text(json.dumps(report, indent=2) + "\n")
        _REPORTS_WRITTEN.add(path)
        return path
