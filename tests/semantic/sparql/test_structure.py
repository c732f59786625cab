"""The rewriter's structure (issue 16, item 5): modules of one concern stay under 400 lines, property paths use
only SQL generation's public interface, and the quad table's columns are the store model's."""

from __future__ import annotations

import ast
from pathlib import Path

import semantic.sparql
from semantic.sparql.rel import QUADS
from semantic.sparql.sqlgen import SqlWriter
from semantic.store.models import RdfQuad

PACKAGE = Path(semantic.sparql.__file__).parent
MAX_LINES = 400


def test_no_module_of_the_rewriter_is_over_400_lines() -> None:
    sizes = {p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in PACKAGE.glob("*.py")}
    assert len(sizes) > 20
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}


def test_property_paths_use_only_the_public_interface_of_sql_generation() -> None:
    tree = ast.parse((PACKAGE / "paths.py").read_text(encoding="utf-8"))
    used = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "host"
    }
    assert used, "paths.py no longer reads the SqlWriter it is given"
    assert {a for a in used if a.startswith("_")} == set()
    assert used <= {name for name in dir(SqlWriter) if not name.startswith("_")} | {"mapped"}
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module is not None}
    assert "semantic.sparql.render" not in imported  # no cycle with the renderer


def test_the_quad_tables_columns_are_the_store_models() -> None:
    model = [c.name for c in RdfQuad.__table__.columns if c.name not in ("id", "source")]
    assert list(QUADS.c.keys()) == model
    assert QUADS.name == RdfQuad.__tablename__


RENDERING = (
    "render.py",
    "sqlgen.py",
    "unfold.py",
    "paths.py",
    "modifiers.py",
    "expressions.py",
    "builtin_functions.py",
)


def test_rendering_never_calls_back_into_translation() -> None:
    """EXISTS patterns are translated with the rest of the query (``ir.Exists``): no module that renders the IR
    imports the translation, at its top or inside a function (``render.exists`` used to translate there)."""
    for name in RENDERING:
        tree = ast.parse((PACKAGE / name).read_text(encoding="utf-8"))
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module is not None}
        assert "semantic.sparql.translate" not in imported, name
