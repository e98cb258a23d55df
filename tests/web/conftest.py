"""The web app's toolchain for its tests (Node and npm, web/node_modules installed once) and the
browser tests' shared fixtures: one Chromium and one `ragstack serve` per module, a fresh browser
context per test, and the screenshot/axe check."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, expect

from tests.requirements import missing_requirement
from tests.serve_support import ServeProcess, serving
from tests.web.browser import (
    SCREENSHOT_FOLDERS,
    ScreenCheck,
    chromium,
    new_context,
    require_axe,
    require_chromium,
    screenshots_dir,
)
from tests.web.pages import STEP_TIMEOUT_MS

WEB = Path(__file__).resolve().parents[2] / "web"
"""The app's folder (package.json, package-lock.json, the sources)."""
NODE_INSTALL = "apt-get install nodejs npm (Node 20.19 or newer)"
_NPM_CI_TIMEOUT_S = 600  # a cold install fetches ~130 packages; a warm cache takes seconds


@pytest.fixture(scope="session")
def web_app() -> Path:
    """web/, with its node_modules installed (by `npm ci --prefer-offline` when missing)."""
    lacking = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if lacking:
        missing_requirement(" and ".join(lacking) + " for the web app", install=NODE_INSTALL)
    if not (WEB / "node_modules" / ".package-lock.json").is_file():
        done = subprocess.run(
            ["npm", "ci", "--prefer-offline", "--no-audit", "--no-fund"],
            cwd=WEB,
            capture_output=True,
            text=True,
            timeout=_NPM_CI_TIMEOUT_S,
            env={**os.environ, "CI": "1"},
        )
        if done.returncode != 0:
            lines = (done.stderr or done.stdout).strip().splitlines()
            missing_requirement(
                "the web app's npm packages",
                install="cd web && npm ci",
                detail=lines[-1] if lines else f"npm ci exited {done.returncode}",
            )
    return WEB


def run_node_tool(web: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """Run one of the app's installed tools (`vitest`, `vite`, `tsc`) in web/."""
    return subprocess.run(
        [str(web / "node_modules" / ".bin" / args[0]), *args[1:]],
        cwd=web,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "CI": "1", "NO_COLOR": "1", "FORCE_COLOR": "0"},
    )


@pytest.fixture(scope="module")
def browser(web_app: Path) -> Iterator[Browser]:
    # web_app: node_modules holds axe-core. Checked before the server starts, to skip quickly.
    require_chromium()
    require_axe()
    # A check waits up to a step's bound: the machine may be busy.
    expect.set_options(timeout=STEP_TIMEOUT_MS)
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def served(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    """A real `ragstack serve` for the module (after `browser`, so a missing Chromium skips
    before a server starts)."""
    with serving(tmp_path_factory.mktemp("web-served")) as process:
        yield process


@pytest.fixture(scope="module")
def screens(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScreenCheck]:
    check = ScreenCheck(screenshots_dir(tmp_path_factory.mktemp("screenshots")))
    yield check
    check.write_report()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    made = new_context(browser)
    try:
        yield made
    finally:
        made.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    # The browser tests' screenshots, named so a person can look at them after the run.
    for folder in SCREENSHOT_FOLDERS:
        terminalreporter.write_line(f"web app screenshots: {folder}")
