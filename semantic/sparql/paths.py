"""Property paths: the pairs of terms a path connects, as subqueries (``a__*``, ``b__*`` columns, and ``g``, the
graph, inside ``GRAPH ?variable``): a link of the quad table (and the mapped tables, in the default graph), its
inverse, sequences as joins, alternatives as unions, negated property sets, and ``*``/``+`` as recursive CTEs
(UNION, so cycles end). The renderer renders path patterns here, passing itself: paths use only the public
interface of SQL generation (:class:`semantic.sparql.sqlgen.SqlWriter`).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from rdflib.term import Node, Variable

from semantic.errors import UnsupportedFeature
from semantic.sparql import ir
from semantic.sparql.expressions import term_equal
from semantic.sparql.rel import QUADS, Rel
from semantic.sparql.sqlgen import SqlWriter
from semantic.sparql.terms import FIELDS, TermCols, constant, label
from semantic.vocab import IRI, LITERAL


def path_pattern(host: SqlWriter, node: ir.PathPattern) -> Rel:
    """The solutions of a property path pattern: the pairs its path connects, bound to its subject and object
    (and, inside ``GRAPH ?g``, the graph they are in)."""
    constants = [t for t in (node.subject, node.object) if not isinstance(t, Variable)]
    connected = pairs(host, node.path, node.graph, constants)
    start, end = _ends(connected, "a"), _ends(connected, "b")
    env: dict[str, TermCols] = {}
    where: list[Any] = []
    if isinstance(node.graph, Variable):  # GRAPH ?g: the path is followed within each named graph
        env[str(node.graph)] = TermCols(sa.literal(IRI, sa.SmallInteger()), connected.c.g)
    for term, cols in ((node.subject, start), (node.object, end)):
        if isinstance(term, Variable):
            host.bind(str(term), cols, env, where)
        else:
            where.append(term_equal(constant(term), cols))
    columns = list(env.items())
    return host.finish(columns, host.select(columns).select_from(connected).where(*where), set())


def _pairs_select(start: TermCols, end: TermCols, graph: Any = None) -> Any:
    """``SELECT`` of a pair of terms (``a__*``, ``b__*``), and of the graph IRI they are in (``g``) inside
    ``GRAPH ?variable``."""
    cols = [*start.labelled("a"), *end.labelled("b")]
    return sa.select(*cols, graph.label("g")) if graph is not None else sa.select(*cols)


def _g(pairs: Any, by_graph: bool) -> Any:
    """The graph column of a pair subquery inside ``GRAPH ?variable`` (``None``: one graph)."""
    return pairs.c.g if by_graph else None


def _quad_graph(quads: Any, by_graph: bool) -> Any:
    """The graph column of a quad-table alias inside ``GRAPH ?variable`` (``None``: one graph)."""
    return quads.c.graph if by_graph else None


def _same_graph(x: Any, y: Any, by_graph: bool) -> Any:
    """Two pair subqueries in the same graph (always, outside ``GRAPH ?variable``)."""
    return x.c.g == y.c.g if by_graph else sa.true()


def _graph_where(host: SqlWriter, alias: Any, graph: Node | None) -> list[Any]:
    where: list[Any] = []
    host.graph_condition(alias, graph, {}, where)
    return where


def pairs(host: SqlWriter, path: Any, graph: Node | None, constants: list[Node]) -> Any:
    """A subquery of ``(a, b)`` term pairs connected by ``path`` (inside ``GRAPH ?variable``: within one named
    graph, ``g``)."""
    from rdflib.paths import AlternativePath, InvPath, MulPath, NegatedPath, SequencePath
    from rdflib.term import URIRef

    by_graph = isinstance(graph, Variable)

    def g(sub: Any) -> Any:
        return _g(sub, by_graph)

    if isinstance(path, URIRef):
        q = QUADS.alias(host.name("q"))
        stmt = _pairs_select(_subject(q), _object(q), _quad_graph(q, by_graph)).where(
            q.c.p == str(path), *_graph_where(host, q, graph)
        )
        if host.virtual(graph):  # the mapped tables' triples with this predicate too
            # each binds ?a then ?b, the column order of the quad-table select
            mapped = [sel for sel, _ in host.mapped.selects((Variable("a"), path, Variable("b")))]
            stmt = sa.union_all(stmt, *mapped) if mapped else stmt
        return stmt.subquery(host.name("l"))
    if isinstance(path, InvPath):
        inner = pairs(host, path.arg, graph, constants)
        return _pairs_select(_ends(inner, "b"), _ends(inner, "a"), g(inner)).subquery(host.name("i"))
    if isinstance(path, SequencePath):
        acc = pairs(host, path.args[0], graph, constants)
        for arg in path.args[1:]:
            nxt = pairs(host, arg, graph, constants)
            joined = acc.join(
                nxt, sa.and_(term_equal(_ends(acc, "b"), _ends(nxt, "a")), _same_graph(acc, nxt, by_graph))
            )
            linked = _pairs_select(_ends(acc, "a"), _ends(nxt, "b"), g(acc))
            acc = linked.select_from(joined).subquery(host.name("s"))
        return acc
    if isinstance(path, AlternativePath):
        alternatives = [
            _pairs_select(_ends(r, "a"), _ends(r, "b"), g(r)).select_from(r)
            for r in (pairs(host, a, graph, constants) for a in path.args)
        ]
        return sa.union_all(*alternatives).subquery(host.name("alt"))
    if isinstance(path, NegatedPath):
        if host.virtual(graph):
            raise UnsupportedFeature("negated property sets over the mapped catalogue tables")
        forward = [str(a) for a in path.args if isinstance(a, URIRef)]
        backward = [str(a.arg) for a in path.args if isinstance(a, InvPath)]
        parts: list[Any] = []
        if forward or not backward:
            q = QUADS.alias(host.name("q"))
            parts.append(
                _pairs_select(_subject(q), _object(q), _quad_graph(q, by_graph)).where(
                    q.c.p.not_in(forward) if forward else sa.true(), *_graph_where(host, q, graph)
                )
            )
        if backward:
            q = QUADS.alias(host.name("q"))
            parts.append(
                _pairs_select(_object(q), _subject(q), _quad_graph(q, by_graph)).where(
                    q.c.p.not_in(backward), q.c.o_kind != LITERAL, *_graph_where(host, q, graph)
                )
            )
        combined: Any = parts[0] if len(parts) == 1 else sa.union_all(*parts)
        return combined.subquery(host.name("neg"))
    if isinstance(path, MulPath):
        step = pairs(host, path.path, graph, constants)
        selects = []
        if path.mod in ("*", "?"):
            if host.virtual(graph) and not constants:
                raise UnsupportedFeature("zero-length paths between two variables over the mapped catalogue tables")
            selects.append(_zero_length(host, graph, constants))
        if path.mod == "?":
            selects.append(_pairs_select(_ends(step, "a"), _ends(step, "b"), g(step)).select_from(step))
        else:
            selects.append(_closure(host, step, by_graph))
        return sa.union(*selects).subquery(host.name("m"))
    raise UnsupportedFeature(f"property path {type(path).__name__}")


def _closure(host: SqlWriter, step: Any, by_graph: bool = False) -> Any:
    """Pairs connected by one or more steps: a recursive CTE (UNION, so cycles end); ``by_graph``: steps
    within one graph (``g``)."""
    base = _pairs_select(_ends(step, "a"), _ends(step, "b"), _g(step, by_graph)).select_from(step)
    cte = base.cte(host.name("closure"), recursive=True)
    nxt = step.alias(host.name("st"))
    on = term_equal(_ends(cte, "b"), _ends(nxt, "a"))
    joined = cte.join(nxt, sa.and_(on, _same_graph(cte, nxt, by_graph)))
    cte = cte.union(_pairs_select(_ends(cte, "a"), _ends(nxt, "b"), _g(cte, by_graph)).select_from(joined))
    return _pairs_select(_ends(cte, "a"), _ends(cte, "b"), _g(cte, by_graph)).select_from(cte)  # the union's own


def _zero_length(host: SqlWriter, graph: Node | None, constants: list[Node]) -> Any:
    """Every node of the active graph (and the pattern's constants) connected to itself; inside ``GRAPH
    ?variable``, of every named graph, with it."""
    by_graph = isinstance(graph, Variable)
    q1, q2 = QUADS.alias(host.name("q")), QUADS.alias(host.name("q"))
    selects = [
        _pairs_select(_subject(q1), _subject(q1), _quad_graph(q1, by_graph)).where(*_graph_where(host, q1, graph)),
        _pairs_select(_object(q2), _object(q2), _quad_graph(q2, by_graph)).where(*_graph_where(host, q2, graph)),
    ]
    if by_graph and constants:  # a constant is connected to itself in every named graph
        q3 = QUADS.alias(host.name("q"))
        graphs = sa.select(q3.c.graph).where(*_graph_where(host, q3, graph)).distinct().subquery(host.name("gs"))
        selects += [_pairs_select(constant(c), constant(c), graphs.c.graph).select_from(graphs) for c in constants]
    else:
        selects += [_pairs_select(constant(c), constant(c)) for c in constants]
    return sa.union(*selects)


def _subject(q: Any) -> TermCols:
    return TermCols(q.c.s_kind, q.c.s)


def _object(q: Any) -> TermCols:
    return TermCols(q.c.o_kind, q.c.o, q.c.o_dt, q.c.o_lang, q.c.o_num, q.c.o_ts, q.c.o_geom)


def _ends(sub: Any, end: str) -> TermCols:
    return TermCols(*(sub.c[label(end, f)] for f in FIELDS))
