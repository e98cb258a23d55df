"""The typed face stays honest: rust_core/__init__.pyi declares exactly what the extension has,
with the same parameter names, kinds and defaults (a light stand-in for mypy.stubtest)."""

import ast
import inspect
from pathlib import Path

import pytest

import rust_core

STUB = ast.parse((Path(rust_core.__file__).parent / "__init__.pyi").read_text())


def stub_functions(body: list[ast.stmt]) -> dict[str, ast.FunctionDef]:
    return {node.name: node for node in body if isinstance(node, ast.FunctionDef)}


def stub_parameters(fn: ast.FunctionDef) -> list[tuple[str, inspect._ParameterKind, object]]:
    args = fn.args
    positional = [(a, inspect.Parameter.POSITIONAL_ONLY) for a in args.posonlyargs] + [
        (a, inspect.Parameter.POSITIONAL_OR_KEYWORD) for a in args.args
    ]
    defaults: list[object] = [inspect.Parameter.empty] * (len(positional) - len(args.defaults))
    defaults += [ast.literal_eval(d) for d in args.defaults]
    out = [(a.arg, kind, d) for (a, kind), d in zip(positional, defaults, strict=True)]
    for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        default = inspect.Parameter.empty if d is None else ast.literal_eval(d)
        out.append((a.arg, inspect.Parameter.KEYWORD_ONLY, default))
    return out


def runtime_parameters(obj: object) -> list[tuple[str, inspect._ParameterKind, object]]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(obj).parameters.values()]  # type: ignore[arg-type]


def stub_all() -> list[str]:
    for node in STUB.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "__all__":
            return ast.literal_eval(node.value)
    raise AssertionError("the stub has no __all__")


def test_stub_and_module_export_the_same_names():
    assert sorted(stub_all()) == sorted(rust_core.__all__)
    for name in rust_core.__all__:
        assert hasattr(rust_core, name), name
    declared = set(stub_functions(STUB.body))
    declared |= {n.name for n in STUB.body if isinstance(n, ast.ClassDef)}
    declared |= {n.target.id for n in STUB.body if isinstance(n, ast.AnnAssign)}  # type: ignore[union-attr]
    assert declared == set(rust_core.__all__)


@pytest.mark.parametrize("name", sorted(stub_functions(STUB.body)))
def test_function_signatures_match(name):
    stub = stub_functions(STUB.body)[name]
    assert stub_parameters(stub) == runtime_parameters(getattr(rust_core, name))


def test_hasher_methods_match():
    (hasher,) = (n for n in STUB.body if isinstance(n, ast.ClassDef) and n.name == "Hasher")
    methods = stub_functions(hasher.body)
    init = stub_parameters(methods.pop("__init__"))[1:]  # drop self
    assert init == runtime_parameters(rust_core.Hasher)
    for name, stub in methods.items():
        assert stub_parameters(stub) == runtime_parameters(getattr(rust_core.Hasher, name)), name


def test_patch_error_is_a_value_error():
    assert issubclass(rust_core.PatchError, ValueError)
    assert rust_core.PatchError.__module__ == "rust_core"
