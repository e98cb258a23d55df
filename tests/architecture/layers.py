"""The import contract: which package may import which, checked from the source text.

Imports point one way, `events ← engine ← projections ← app ← gateway`; `rust_core` is used by
any of them and uses none. The client is the top layer but talks to the others over HTTP and
NATS: it may import `events`, `rust_core` and the pure chapter fold only. `client/serve.py`
(which runs the server) and `client/local.py` (which reads a data directory's logs on the
auditor's own machine) and `client/local_library.py` (which reads the user's Zotero directory
or Obsidian vault with the server's readers) may import the server packages, but only inside functions or under
`TYPE_CHECKING`, so that `import client` stays light. docs/architecture.md explains the layers.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SERVER = ("events", "engine", "projections", "app", "gateway")
ALLOWED: dict[str, frozenset[str]] = {
    "rust_core": frozenset(),
    "events": frozenset({"rust_core"}),
    "engine": frozenset({"events", "rust_core"}),
    "projections": frozenset({"engine", "events", "rust_core"}),
    "app": frozenset({"projections", "engine", "events", "rust_core"}),
    "gateway": frozenset({"app", "projections", "engine", "events", "rust_core"}),
    "client": frozenset({"events", "rust_core", "projections.fold"}),
}
"""Each package's first-party imports (a dotted entry allows that module alone)."""
FIRST_PARTY = frozenset(ALLOWED)
LAZY_SERVER_IMPORTS = frozenset({"client/serve.py", "client/local.py", "client/local_library.py"})
"""Modules that may reach the server packages inside functions (and for type checking)."""


@dataclass(frozen=True, slots=True)
class Violation:
    """One import that breaks the contract."""

    path: str
    line: int
    imported: str
    why: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: imports {self.imported} ({self.why})"


def _imports(tree: ast.Module) -> Iterator[tuple[ast.stmt, str, str, bool]]:
    """(statement, module, the name it brings, at module level) for every imported name.

    `from projections import fold` brings `projections.fold`, which a rule may allow on its
    own; imports inside functions and under `if TYPE_CHECKING:` are not at module level.
    """

    def walk(node: ast.AST, top: bool) -> Iterator[tuple[ast.stmt, str, str, bool]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield child, alias.name, alias.name, top
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                for alias in child.names:
                    yield child, child.module, f"{child.module}.{alias.name}", top
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) or (
                isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test)
            ):
                yield from walk(child, False)
            else:
                yield from walk(child, top)

    yield from walk(tree, True)


def _allowed(package: str, module: str) -> bool:
    return any(module == rule or module.startswith(rule + ".") for rule in ALLOWED[package])


def _why(package: str) -> str:
    if package == "client":
        return "the client may import events, rust_core and projections.fold only"
    allowed = ", ".join(sorted(ALLOWED[package])) or "no other first-party package"
    return f"{package} may import {allowed}"


def check_tree(root: Path) -> list[Violation]:
    """Every import under `root` (a checkout) that breaks the contract."""
    found: list[Violation] = []
    for package in sorted(ALLOWED):
        for path in sorted((root / package).rglob("*.py")):
            relative = path.relative_to(root).as_posix()
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=relative)
            for node, module, name, top in _imports(tree):
                head = module.split(".", 1)[0]
                if head not in FIRST_PARTY or head == package:
                    continue
                if _allowed(package, module) or _allowed(package, name):
                    continue
                if relative in LAZY_SERVER_IMPORTS and not top and head in SERVER:
                    continue
                why = (
                    "nothing imports the client: it talks over HTTP and NATS"
                    if head == "client"
                    else _why(package)
                )
                found.append(Violation(relative, node.lineno, module, why))
    return found
