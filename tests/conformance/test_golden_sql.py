"""Golden files for the rewriter: each catalogue query ``tests/conformance/golden/<case>.rq`` and the SQL it is
rewritten into, ``tests/conformance/golden/<case>.sql`` (:meth:`SparqlEngine.sql`, parameters as ``%(name)s``
placeholders).

A change in the generated SQL shows up as a diff of a committed file. When the change is intended, regenerate:

    ESDL_REGEN_GOLDEN=1 .venv/bin/pytest tests/conformance/test_golden_sql.py

which rewrites the ``.sql`` files (and passes); review the diff and commit it. Every case also runs on a small
real catalogue (the SQL must execute), and no constant of the query may appear in the SQL text, nor any quoted
SQL literal: values are bound parameters.

The SQL names its topology-pattern variables from a process-wide counter (``_topo_<n>_``), so the same query
gets other numbers depending on what was translated before it; they are renumbered in order of appearance
before comparing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from rdflib import Graph, Literal

from esdl_testing.catalogue import insert_catalogue
from esdl_testing.paths import CONFORMANCE_DIR
from semantic.sparql.engine import SelectResult, SparqlEngine
from semantic.sparql.translate import parse
from semantic.store.db import make_engine

GOLDEN_DIR = CONFORMANCE_DIR / "golden"
CASES = sorted(p.stem for p in GOLDEN_DIR.glob("*.rq"))
REGENERATE = os.environ.get("ESDL_REGEN_GOLDEN") == "1"

_TOPO = re.compile(r"_topo_(\d+)_")


def normalise(sql: str) -> str:
    """The SQL with topology counters renumbered from 0 in order of appearance, and a final newline."""
    numbers: dict[str, str] = {}

    def renumber(m: re.Match[str]) -> str:
        return f"_topo_{numbers.setdefault(m[1], str(len(numbers)))}_"

    return _TOPO.sub(renumber, sql).rstrip("\n") + "\n"


def constants(text: str) -> list[str]:
    """The lexical forms of the query's literals (from rdflib's algebra), as they would appear if inlined."""
    found: list[str] = []

    def visit(node: object) -> None:
        if isinstance(node, Literal):
            found.append(str(node))
        elif isinstance(node, dict):
            for value in node.values():
                visit(value)
        elif isinstance(node, list | tuple):
            for value in node:
                visit(value)

    visit(parse(text).algebra)
    return found


@pytest.fixture
def catalogue(catalog_url: str) -> Iterator[sa.Engine]:
    """A small catalogue: a cube with two variables, three regions, zonal statistics for two of them."""
    engine = make_engine(catalog_url)
    with engine.begin() as conn:
        insert_catalogue(
            conn,
            "demo cube",
            [(3, "surface_temperature", "K"), (4, "precipitation", None)],
            ["north basin", "south basin", "far away"],
        )
    try:
        yield engine
    finally:
        engine.dispose()


def test_every_case_has_its_sql() -> None:
    assert len(CASES) >= 8
    if not REGENERATE:
        missing = [c for c in CASES if not (GOLDEN_DIR / f"{c}.sql").is_file()]
        assert not missing, f"no golden SQL for {missing}: run with ESDL_REGEN_GOLDEN=1"
    orphans = sorted(p.stem for p in GOLDEN_DIR.glob("*.sql") if p.stem not in CASES)
    assert not orphans, f"golden SQL without a query: {orphans}"


@pytest.mark.parametrize("name", CASES)
def test_golden_sql(name: str, catalogue: sa.Engine) -> None:
    text = (GOLDEN_DIR / f"{name}.rq").read_text(encoding="utf-8")
    sparql = SparqlEngine(catalogue)  # a fresh engine (mapped-table aliases are numbered per translation)
    sql = normalise(sparql.sql(text))
    golden = GOLDEN_DIR / f"{name}.sql"
    if REGENERATE:
        golden.write_text(sql, encoding="utf-8")
    else:
        assert golden.is_file(), f"no {golden.name}: run with ESDL_REGEN_GOLDEN=1"
        assert sql == golden.read_text(encoding="utf-8"), (
            f"the SQL of {name} changed; if intended, regenerate with ESDL_REGEN_GOLDEN=1 and review the diff"
        )

    # one- and two-character constants (HAVING ... > 1) occur in any SQL text, in aliases and parameter names
    inlined = [c for c in constants(text) if len(c) > 2 and c in sql]
    assert not inlined, f"constants written into the SQL instead of bound: {inlined}"
    assert "'" not in sql, "a quoted SQL literal: values must be bound parameters"

    result = sparql.query(text)  # the SQL runs on PostGIS
    form = parse(text).algebra.name
    expected_type = {"SelectQuery": SelectResult, "AskQuery": bool, "ConstructQuery": Graph}[form]
    assert isinstance(result, expected_type)
