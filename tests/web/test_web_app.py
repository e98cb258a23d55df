"""The web app (web/): its Vitest unit tests pass, it type-checks, and the build committed in
gateway/webapp/ is exactly what its sources build to (issue 11: CI fails if they differ)."""

from __future__ import annotations

import filecmp
from pathlib import Path

from tests.web.conftest import run_node_tool

WEBAPP = Path(__file__).resolve().parents[2] / "gateway" / "webapp"
"""Where `npm run build` writes the app, inside the Python package that serves it."""


def _report(done: object) -> str:
    return f"{getattr(done, 'stdout', '')}\n{getattr(done, 'stderr', '')}"


def test_vitest_unit_tests_pass(web_app: Path) -> None:
    done = run_node_tool(web_app, "vitest", "run")
    assert done.returncode == 0, _report(done)


def test_app_type_checks(web_app: Path) -> None:
    done = run_node_tool(web_app, "tsc", "--noEmit")
    assert done.returncode == 0, _report(done)


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_committed_build_is_what_the_sources_build_to(web_app: Path, tmp_path: Path) -> None:
    # Build into a scratch folder (the committed one stays untouched) and compare byte for byte.
    fresh = tmp_path / "webapp"
    done = run_node_tool(web_app, "vite", "build", "--outDir", str(fresh), "--emptyOutDir")
    assert done.returncode == 0, _report(done)
    committed, built = _files(WEBAPP), _files(fresh)
    differing = sorted(
        name
        for name in committed & built
        if not filecmp.cmp(WEBAPP / name, fresh / name, shallow=False)
    )
    fix = "rebuild and commit it: cd web && npm run build"
    assert committed == built, (
        f"gateway/webapp/ is stale ({fix}): only committed {sorted(committed - built)}, "
        f"only built {sorted(built - committed)}"
    )
    assert not differing, f"gateway/webapp/ is stale ({fix}): {differing} differ"
