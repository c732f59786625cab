"""Translation stays linear in the query's size and within its time limit (no database needed: the SQL is
rendered and compiled here, as the engine does)."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy.dialects import postgresql

from semantic.errors import QueryTooComplex
from semantic.sparql.build import _final
from semantic.sparql.casts import CASTS
from semantic.sparql.deadline import TimeLimitExceeded, time_limit
from semantic.sparql.geo import GEO_FUNCTIONS
from semantic.sparql.render import Renderer
from semantic.sparql.translate import parse, to_ir


def sql_of(text: str) -> str:
    query = to_ir(parse(text))
    renderer = Renderer(query.default_graphs, query.named_graphs, {**CASTS, **GEO_FUNCTIONS}, dataset=query.dataset)
    statement, _ = _final(renderer.render(query.root))
    return str(statement.compile(dialect=postgresql.dialect(), compile_kwargs={"render_postcompile": True}))


# each builds a query of n operators of one kind; every one read its operands' SQL several times, so that the
# SQL grew exponentially (9x per "+" until the rewrite hoisted large operands into LATERAL subqueries)
SHAPES = {
    "sum": lambda n: "SELECT ?x WHERE { ?s ?p ?y BIND(" + "+".join(["?y"] * (n + 1)) + " AS ?x) }",
    "sum-of-constants": lambda n: "SELECT ?x WHERE { BIND(" + "+".join(["1"] * (n + 1)) + " AS ?x) }",
    "bind-chain": lambda n: (
        "SELECT * WHERE { ?s ?p ?y0 " + " ".join(f"BIND(?y{i} + ?y{i} AS ?y{i + 1})" for i in range(n)) + " }"
    ),
    "bind-chain-over-values": lambda n: (
        "SELECT * WHERE { VALUES ?y0 { 1 2 } " + " ".join(f"BIND(?y{i} * ?y{i} AS ?y{i + 1})" for i in range(n)) + " }"
    ),
    "comparisons": lambda n: "ASK { ?s ?p ?y FILTER(" + " && ".join(f"?y != {i}" for i in range(n)) + ") }",
    "nested-if": lambda n: "SELECT ?x WHERE { ?s ?p ?y BIND(" + "IF(?y, " * n + "?y" + ", ?y)" * n + " AS ?x) }",
    "nested-str": lambda n: "SELECT ?x WHERE { ?s ?p ?y BIND(" + "STR(" * n + "?y" + ")" * n + " AS ?x) }",
    "nested-coalesce": lambda n: (
        "SELECT ?x WHERE { ?s ?p ?y BIND(" + "COALESCE(?y, " * n + "?y" + ")" * n + " AS ?x) }"
    ),
    "order-by": lambda n: "SELECT ?y WHERE { ?s ?p ?y } ORDER BY (" + "+".join(["?y"] * (n + 1)) + ")",
    "aggregate": lambda n: "SELECT (SUM(" + "+".join(["?y"] * (n + 1)) + ") AS ?t) WHERE { ?s ?p ?y }",
    "union": lambda n: "SELECT ?x WHERE { " + " UNION ".join(f"{{ BIND({i} AS ?x) }}" for i in range(n)) + " }",
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_sql_grows_linearly_with_the_query(shape: str) -> None:
    """Doubling the operators at most a little more than doubles the SQL (the bind chain re-selects every earlier
    variable at each level, so it grows with the square of the variables, still far from 2^n)."""
    make = SHAPES[shape]
    n = 4 if shape.startswith("nested") else 16  # (rdflib's parser recurses deeply into nested calls: 2n=10 ran past
    # the recursion limit under the whole suite's deeper stack)
    small, large = len(sql_of(make(n))), len(sql_of(make(2 * n)))
    bound = 4.5 if shape.startswith("bind-chain") else 2.6
    assert large <= bound * small, (small, large)


def test_an_expression_that_cannot_be_hoisted_is_too_complex_before_it_is_compiled() -> None:
    """In an OPTIONAL's condition there is no FROM to join a LATERAL to: a long expression there is refused from
    its estimated size, not compiled first."""
    expr = " + ".join(["?y"] * 40)
    text = f"SELECT * WHERE {{ ?s ?p ?o OPTIONAL {{ ?s ?q ?y FILTER(STR({expr}) = STR({expr})) }} }}"
    with pytest.raises(QueryTooComplex, match="BIND"):
        sql_of(text)


def test_time_limit_stops_work_in_progress() -> None:
    done = 0
    with pytest.raises(TimeLimitExceeded):
        with time_limit(0.2):
            while done < 10**12:  # pure Python: interruptible between bytecodes
                done += 1
    assert done < 10**12


def test_a_time_limit_that_passes_after_the_block_raises_nothing_later() -> None:
    with time_limit(0.05):
        pass
    time.sleep(0.2)  # the timer was cancelled: nothing lands here
    with time_limit(None):
        pass


def test_time_limits_in_threads_stop_only_their_own_thread() -> None:
    results: dict[str, str] = {}

    def busy(name: str, limit: float, work: float) -> None:
        try:
            with time_limit(limit):
                end = time.monotonic() + work
                while time.monotonic() < end:
                    pass
            results[name] = "finished"
        except TimeLimitExceeded:
            results[name] = "stopped"

    threads = [
        threading.Thread(target=busy, args=("slow", 0.2, 30)),
        threading.Thread(target=busy, args=("quick", 30, 0.5)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == {"slow": "stopped", "quick": "finished"}
