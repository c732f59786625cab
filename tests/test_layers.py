"""The architecture holds: imports run one way (libraries ← blocks/flows ← application), without cycles; the
libraries never import prefect and ship their types; every third-party module imported is declared."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("cubes", "semantic", "nbrun", "blocks", "flows", "esdl")
# what each package may import of the project's own packages (itself included)
ALLOWED = {
    "cubes": {"cubes"},
    "semantic": {"semantic", "cubes"},
    "nbrun": {"nbrun"},
    "blocks": {"blocks", "cubes", "semantic"},
    "flows": {"flows", "blocks", "cubes", "semantic", "nbrun"},
    "esdl": {"esdl", "flows", "blocks", "cubes", "semantic", "nbrun"},
}


def modules() -> dict[str, Path]:
    """The project's modules by dotted name (packages by their ``__init__``)."""
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imported(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The project's modules that ``name`` imports anywhere in its code (inside functions too)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [base, *(f"{base}.{a.name}" for a in node.names)]
        else:
            continue
        for target in targets:
            while target and target not in known:  # the longest prefix that is one of our modules
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imported(name, path, known) for name, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles() -> None:
    assert cycles(graph()) == []


def test_imports_run_one_way() -> None:
    bad = [
        f"{module} imports {target}"
        for module, targets in graph().items()
        for target in targets
        if target.split(".")[0] not in ALLOWED[module.split(".")[0]]
    ]
    assert bad == []


def test_libraries_do_not_import_prefect() -> None:
    """Every module of cubes, semantic and nbrun imported in a fresh interpreter pulls in no prefect module."""
    names = sorted(
        m
        for m in modules()
        if m.split(".")[0] in ("cubes", "semantic", "nbrun") and ".migrations" not in m  # Alembic's
    )
    assert {m.split(".")[0] for m in names} == {"cubes", "semantic", "nbrun"}
    code = (
        "import importlib, sys\n"
        + "".join(f"importlib.import_module({m!r})\n" for m in names)
        + (
            "bad = sorted(m for m in sys.modules if m == 'prefect' or m.startswith('prefect.'))\n"
            "print(bad[:5]); sys.exit(1 if bad else 0)\n"
        )
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize("package", ["cubes", "semantic", "nbrun"])
def test_library_is_typed(package: str) -> None:
    assert (ROOT / package / "py.typed").exists()


def _declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    return {_normal(re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0]) for r in requirements}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_imported_module_is_declared() -> None:
    """A module imported by our code (or tests and benchmarks) belongs to a distribution pyproject.toml names,
    not one that is only installed because something else pulls it in."""
    distributions = importlib.metadata.packages_distributions()
    ours = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()} | {"esdl_testing"}
    ours |= {p.name for p in (ROOT / "bench").iterdir() if p.is_dir()}
    declared = _declared()
    missing = set()
    for folder in (*PACKAGES, "bench", "tests"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top in sys.stdlib_module_names or top in ours:
                        continue
                    if not {_normal(d) for d in distributions.get(top, [])} & declared:
                        missing.add(f"{top} ({path.relative_to(ROOT)})")
    assert sorted(missing) == []
