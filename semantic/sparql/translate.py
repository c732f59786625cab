"""Stages one and two: parse with rdflib, then turn rdflib's algebra into our IR (:mod:`semantic.sparql.ir`).

Topology relations used as triple patterns stay triples here: GeoSPARQL's query-rewrite rule is the next stage
(:mod:`semantic.sparql.query_rewrite`), which depends on the sources as translation does not.

Anything without a translation raises :class:`~semantic.errors.UnsupportedFeature` naming it.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import Any

import pyparsing
from pyparsing import ParseException
from rdflib.paths import Path
from rdflib.plugins.sparql.algebra import translateQuery
from rdflib.plugins.sparql.parser import parseQuery
from rdflib.plugins.sparql.parserutils import CompValue
from rdflib.term import BNode, Variable

from semantic.errors import QuerySyntaxError, QueryTooComplex, SemanticError, UnsupportedFeature
from semantic.sparql import ir
from semantic.sparql.inline import lift, restore
from semantic.sparql.query_rewrite import is_topology

LOG = logging.getLogger("semantic.sparql")


def parse(text: str, base: str | None = None) -> Any:
    """rdflib's algebra of a query.

    Raises:
        QuerySyntaxError: The text is not a SPARQL 1.1 query.
    """
    from semantic.rdf.load import literals_as_written

    lifted = lift(text)  # VALUES blocks read here (rdflib's grammar takes a millisecond a value)
    try:
        with literals_as_written():  # "01"^^xsd:integer stays "01", as the loader stores it
            parsed = translateQuery(parseQuery(lifted.text), base=base)
            if lifted.blocks:
                try:
                    restore(parsed, lifted.blocks)
                except LookupError:  # (a placeholder lost: a bug here; rdflib reads the text as it was)
                    LOG.exception("VALUES blocks not restored; parsing the query as it was")
                    parsed = translateQuery(parseQuery(text), base=base)
            return parsed
    except ParseException as err:
        loc = lifted.position(err.loc)  # (in the text as sent)
        line, column = pyparsing.lineno(loc, text), pyparsing.col(loc, text)
        raise QuerySyntaxError(f"syntax error at line {line}, column {column}: {err.msg}") from err
    except SemanticError:
        raise
    except RecursionError:
        raise QueryTooComplex(
            "the query is nested too deeply to parse (Python's recursion limit); split it or flatten it"
        ) from None
    except Exception as err:  # rdflib raises plain exceptions for semantic errors (e.g. variable scoping)
        raise QuerySyntaxError(f"invalid query: {err}") from err


def to_ir(parsed: Any) -> ir.Query:
    """Our IR of rdflib's algebra for a whole query."""
    algebra = parsed.algebra
    form = {"SelectQuery": "SELECT", "AskQuery": "ASK", "ConstructQuery": "CONSTRUCT", "DescribeQuery": "DESCRIBE"}
    if algebra.name not in form:
        raise UnsupportedFeature(algebra.name)
    default_graphs: list[str] = []
    named_graphs: list[str] = []
    # (a CompValue's get() of a missing key answers the key's own name; its attribute of one answers None)
    for clause in algebra.datasetClause or []:
        if "named" in clause:
            named_graphs.append(str(clause["named"]))
        else:
            default_graphs.append(str(clause["default"]))
    found: list[bool] = []
    token = _topology.set(found)
    try:
        root = node(algebra.p) if algebra.p is not None else ir.Quads(())
    finally:
        _topology.reset(token)
    if algebra.name != "SelectQuery" and isinstance(root, ir.Project):
        # rdflib projects CONSTRUCT/DESCRIBE variables as a set: a fixed order keeps their SQL stable
        root = ir.Project(root.child, tuple(sorted(root.variables, key=str)))
    return ir.Query(
        form=form[algebra.name],
        root=root,
        variables=tuple(algebra.PV or ()),
        template=tuple(algebra.template or _construct_where(algebra)),
        describe=tuple(algebra.PV or ()) if algebra.name == "DescribeQuery" else (),
        default_graphs=tuple(default_graphs),
        named_graphs=tuple(named_graphs),
        dataset=bool(default_graphs or named_graphs),
        base=None if parsed.prologue is None or parsed.prologue.base is None else str(parsed.prologue.base),
        topology=bool(found),
    )


# whether a basic graph pattern of the query being translated holds a topology relation triple
_topology: ContextVar[list[bool]] = ContextVar("topology")


def node(p: Any, graph: Any = None) -> Any:
    """Our IR of one algebra node (``graph``: the enclosing ``GRAPH`` term, if any)."""
    name = p.name
    if name == "BGP":
        triples = [tuple(_blank_as_variable(x) for x in t) for t in p.triples]
        found = _topology.get(None)
        if found is not None and not found and any(is_topology(t[1]) for t in triples):
            found.append(True)  # (kept as triples: the rewrite stage applies GeoSPARQL's rule to them)
        out: Any = ir.Quads(tuple(t for t in triples if not isinstance(t[1], Path)), graph)
        extra = [ir.PathPattern(s, path, o, graph) for s, path, o in triples if isinstance(path, Path)]
        for step in extra:
            out = step if isinstance(out, ir.Quads) and not out.triples else ir.Join(out, step)
        return out
    if name == "Join":
        return ir.Join(node(p.p1, graph), node(p.p2, graph))
    if name == "LeftJoin":
        expr = p.expr
        return ir.LeftJoin(node(p.p1, graph), node(p.p2, graph), None if _trivial(expr) else _expr(expr, graph))
    if name == "Union":
        return ir.Union(node(p.p1, graph), node(p.p2, graph))
    if name == "Minus":
        return ir.Minus(node(p.p1, graph), node(p.p2, graph))
    if name == "Filter":
        return ir.Filter(node(p.p, graph), _expr(p.expr, graph))
    if name == "Extend":
        return ir.Extend(node(p.p, graph), p.var, _expr(p.expr, graph))
    if name == "Graph":
        return node(p.p, p.term)
    if name == "Project":
        return ir.Project(node(p.p, graph), tuple(p.PV))
    if name in ("Distinct", "Reduced"):
        return ir.Distinct(node(p.p, graph))
    if name == "Slice":
        return ir.Slice(node(p.p, graph), int(p.start or 0), None if p.length is None else int(p.length))
    if name == "OrderBy":
        conditions = []
        for c in p.expr:
            if isinstance(c, CompValue) and c.name == "OrderCondition":
                conditions.append((_expr(c.expr, graph), c.order == "DESC"))
            else:
                conditions.append((_expr(c, graph), False))
        return ir.OrderBy(node(p.p, graph), tuple(conditions))
    if name == "ToMultiSet":
        if isinstance(p.p, list) and not p.p:
            # VALUES with no rows (or no variables): rdflib's algebra keeps an empty list, no node; no solution
            # (rdflib cannot tell "VALUES () { () }", one empty solution, from it)
            return ir.Values((), ())
        return node(p.p, graph)
    if name == "values":
        variables = tuple(sorted({v for row in p.res for v in row}, key=str))
        # rdflib gives UNDEF as the string "UNDEF"
        rows = tuple(tuple(None if row.get(v) in (None, "UNDEF") else row.get(v) for v in variables) for row in p.res)
        return ir.Values(variables, rows)
    if name == "AggregateJoin":
        group = p.p
        if group.name != "Group":
            raise UnsupportedFeature(f"aggregate over {group.name}")
        keys = tuple(_expr(k, graph) for k in group.expr or ())
        aggregates = tuple((a.res, _expr(a, graph)) for a in p.A)
        return ir.Group(node(group.p, graph), keys, aggregates)
    if name == "SelectQuery":  # a subquery
        return node(p.p, graph)
    raise UnsupportedFeature(name)


def _expr(e: Any, graph: Any) -> Any:
    """``e`` with its ``EXISTS``/``NOT EXISTS`` translated up front into :class:`ir.Exists` (their patterns under
    the same ``GRAPH`` as the expression); rdflib's tree is changed in place (it is parsed for this translation)."""
    if isinstance(e, CompValue):
        if e.name in _EXISTS:
            # (rdflib keeps the pattern's algebra as an attribute: the key holds the parse tree)
            return ir.Exists(node(e.graph, graph), e.name == "Builtin_NOTEXISTS")
        for key, value in e.items():
            if not key.startswith("_") and isinstance(value, CompValue | list):
                e[key] = _expr(value, graph)
    elif isinstance(e, list):
        e[:] = [_expr(x, graph) for x in e]
    return e


_EXISTS = ("Builtin_EXISTS", "Builtin_NOTEXISTS")


def _construct_where(algebra: Any) -> tuple[Any, ...]:
    """``CONSTRUCT WHERE { BGP }``: the template is the pattern itself."""
    if algebra.name != "ConstructQuery":
        return ()
    p = algebra.p
    while isinstance(p, CompValue) and p.name != "BGP":
        p = p["p"] if "p" in p else None  # (CompValue.get of a missing key answers the key's name)
    return tuple(tuple(t) for t in p.triples) if isinstance(p, CompValue) else ()


def _blank_as_variable(term: Any) -> Any:
    """Blank nodes in a query pattern are variables that are never projected."""
    return Variable(f"_bnode_{term}") if isinstance(term, BNode) else term


def _trivial(expr: Any) -> bool:
    """rdflib puts a constant-true expression on OPTIONAL without FILTER."""
    return expr is None or (isinstance(expr, CompValue) and expr.name == "TrueFilter")


def variables_of(n: Any) -> list[Variable]:
    """Variables a node can bind, in a stable order."""
    if isinstance(n, ir.Quads):
        seen: dict[Variable, None] = {}
        for t in n.triples:
            for x in t:
                if isinstance(x, Variable):
                    seen[x] = None
        if isinstance(n.graph, Variable):
            seen[n.graph] = None
        return list(seen)
    if isinstance(n, ir.PathPattern):
        return [x for x in (n.subject, n.object, n.graph) if isinstance(x, Variable)]
    if isinstance(n, ir.Join | ir.LeftJoin | ir.Union):
        out = variables_of(n.left)
        return out + [v for v in variables_of(n.right) if v not in out]
    if isinstance(n, ir.Minus):
        return variables_of(n.left)
    if isinstance(n, ir.Filter | ir.Distinct | ir.Slice | ir.OrderBy):
        return variables_of(n.child)
    if isinstance(n, ir.Extend):
        out = variables_of(n.child)
        return out if n.var in out else [*out, n.var]
    if isinstance(n, ir.Values):
        return list(n.variables)
    if isinstance(n, ir.Project):
        return list(n.variables)
    if isinstance(n, ir.Group):
        return [v for v, _ in n.aggregates]
    raise UnsupportedFeature(type(n).__name__)
