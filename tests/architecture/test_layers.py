"""The layering holds over the whole repository, and the check catches a planted upward import."""

import shutil
from pathlib import Path

from tests.architecture.layers import check_tree

ROOT = Path(__file__).resolve().parents[2]


def test_the_repository_keeps_its_layers():
    violations = check_tree(ROOT)
    assert not violations, "\n".join(map(str, violations))


def _copy(tmp_path: Path) -> Path:
    for package in ("events", "engine", "projections", "app", "gateway", "client", "rust_core"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("target"))
    return tmp_path


def test_an_upward_import_is_caught(tmp_path):
    root = _copy(tmp_path)
    (root / "engine" / "planted.py").write_text("from gateway.app import create_app\n")
    violations = check_tree(root)
    assert [(v.path, v.imported) for v in violations] == [("engine/planted.py", "gateway.app")]


def test_a_lazy_import_is_caught_outside_serve_and_local(tmp_path):
    root = _copy(tmp_path)
    (root / "client" / "planted.py").write_text("def f():\n    import engine.log\n")
    (root / "projections" / "planted.py").write_text("def f():\n    from app import services\n")
    found = {(v.path, v.imported) for v in check_tree(root)}
    assert ("client/planted.py", "engine.log") in found
    assert ("projections/planted.py", "app") in found


def test_the_client_reaches_the_server_only_lazily_from_serve(tmp_path):
    root = _copy(tmp_path)
    serve = root / "client" / "serve.py"
    serve.write_text("from app.services import open_services\n" + serve.read_text())
    assert any(v.path == "client/serve.py" for v in check_tree(root))
