"""The rewrite stage: GeoSPARQL's query-rewrite rule as a pass from IR to IR, after translation, before rendering.

Translation (:mod:`semantic.sparql.translate`) keeps a topology relation used as a triple pattern
(``?a geo:sfWithin ?b``) as the triple it is. This pass (:func:`rewritten`) replaces each basic graph pattern
holding such triples by the union, for each relation, of the triple stated in the data and of the relation
function over both sides' geometries, each side a geometry or a feature with a default geometry (GeoSPARQL 1.1's
query-rewrite rule), EXISTS patterns included. What it reads of the sources (whether the union can give a pair
twice, and so needs a DISTINCT; whether there is a geometry-value view) is set around the translation
(:func:`semantic.sparql.geometry_values.rewrite_for`): translation proper does not depend on the sources, this
stage does. ``explain --stages`` prints its output as the ``rewritten`` stage.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextvars import ContextVar
from itertools import count
from typing import Any

from rdflib.plugins.sparql.parserutils import CompValue
from rdflib.term import URIRef, Variable

from semantic.geosparql.properties import GEOMETRY_VALUE, SERIALIZATIONS
from semantic.sparql import ir
from semantic.vocab import GEO, GEOF

_TOPOLOGY = {
    *(f"sf{r}" for r in ("Equals", "Disjoint", "Intersects", "Touches", "Within", "Contains", "Overlaps", "Crosses")),
    *(f"eh{r}" for r in ("Equals", "Disjoint", "Meet", "Overlap", "Covers", "CoveredBy", "Inside", "Contains")),
    *(f"rcc8{r}" for r in ("eq", "dc", "ec", "po", "tppi", "tpp", "ntpp", "ntppi")),
}
RELATIONS = tuple(sorted(GEO + r for r in _TOPOLOGY))
"""The topology relation properties the query-rewrite rule derives."""

# the sources the translation is for, set by the engine around a translation: where they give each entailed pair
# once, the rewrite needs no DISTINCT (semantic.sparql.geometry_values.RewriteSources)
rewrite_sources: ContextVar[Any] = ContextVar("rewrite_sources", default=None)


def is_topology(predicate: Any) -> bool:
    """Whether a triple pattern's predicate is a topology relation the rule derives."""
    return isinstance(predicate, URIRef) and str(predicate).startswith(GEO) and str(predicate)[len(GEO) :] in _TOPOLOGY


def rewritten(query: ir.Query) -> ir.Query:
    """``query`` with the query-rewrite rule applied (``query`` itself where it has no topology triple, or has been
    rewritten already). Expressions are rdflib trees, changed in place where an EXISTS pattern is rewritten."""
    if not query.topology:
        return query
    # hidden variables numbered from 0 for every query, in the order of the IR's fields (so its SQL is stable)
    return dataclasses.replace(query, root=_walk(query.root, count()), topology=False)


def _walk(x: Any, names: Iterator[int]) -> Any:
    if isinstance(x, ir.Quads):
        topology = [t for t in x.triples if is_topology(t[1])]
        if not topology:
            return x
        return _with_topology(tuple(t for t in x.triples if not is_topology(t[1])), topology, x.graph, names)
    if isinstance(x, CompValue):  # an expression: its EXISTS patterns
        for key, value in x.items():
            if not key.startswith("_"):
                x[key] = _walk(value, names)
        return x
    if isinstance(x, list):
        x[:] = [_walk(v, names) for v in x]
        return x
    if isinstance(x, tuple):
        return tuple(_walk(v, names) for v in x)
    if dataclasses.is_dataclass(x) and not isinstance(x, type):  # an IR node: its fields in order
        return dataclasses.replace(x, **{f.name: _walk(getattr(x, f.name), names) for f in dataclasses.fields(x)})
    return x


def _geometry_options(x: Any, wkt: Variable) -> tuple[tuple[tuple[tuple[Any, Any, Any], ...], tuple[Any, ...]], ...]:
    """The ways ``x`` has a geometry, as triples and filters: its own serialisation (a geometry), or its default
    geometry's (a feature) — GeoSPARQL's query-rewrite extension.

    The geometry is read as its value (:data:`~semantic.geosparql.properties.GEOMETRY_VALUE`), which every
    serialisation gives: ``geo:asWKT``, ``geo:asGML``, ``geo:asGeoJSON``, ``geo:hasSerialization`` and its
    subproperties in the ontology or the data (1.1's rule reads any geometry literal); one geometry with several
    serialisations is one value. Over the quad table alone (no ontology, so no such view) it is read through the
    serialisation properties themselves, a predicate variable among them.
    """
    default = URIRef(GEO + "hasDefaultGeometry")
    hop = Variable(f"_geom_{wkt}")
    sources = rewrite_sources.get()
    if sources is None or sources.mapped is not None:
        value = URIRef(GEOMETRY_VALUE)
        return ((((x, value, wkt),), ()), (((x, default, hop), (hop, value, wkt)), ()))
    p = Variable(f"_ser_{wkt}")
    among = CompValue("RelationalExpression", expr=p, op="IN", other=[URIRef(s) for s in SERIALIZATIONS])
    return ((((x, p, wkt),), (among,)), (((x, default, hop), (hop, p, wkt)), (among,)))


def _with_topology(plain: tuple[Any, ...], topology: list[Any], graph: Any, names: Iterator[int]) -> Any:
    """A basic graph pattern with topology relations as triple patterns (``?a geo:sfWithin ?b``): the union, for
    each relation, of the triple stated in the data and of the relation function over both sides' geometries,
    each side a geometry or a feature with a default geometry.

    Every branch is one basic graph pattern (the other triples included) under a FILTER, so that the rewriter
    sees the whole join at once: the geometries' tables join the other triples' rows and the relation becomes a
    spatial join condition that PostGIS can answer from a GiST index.
    """
    branches: list[tuple[tuple[Any, ...], tuple[Any, ...]]] = [(plain, ())]
    for s, rel, o in topology:
        n = next(names)
        wa, wb = Variable(f"_topo_{n}_a"), Variable(f"_topo_{n}_b")
        relation = str(rel)
        function = CompValue("Function", iri=URIRef(GEOF + relation[len(GEO) :]), expr=[wa, wb])
        grown = []
        for triples, filters in branches:
            grown.append(((*triples, (s, rel, o)), filters))
            for ga, fa in _geometry_options(s, wa):
                for gb, fb in _geometry_options(o, wb):
                    grown.append(((*triples, *ga, *gb), (*filters, *fa, *fb, function)))
        branches = grown
    parts: list[Any] = []
    for triples, filters in branches:
        part: Any = ir.Quads(triples, graph)
        for f in filters:
            part = ir.Filter(part, f)
        parts.append(part)
    out = parts[0]
    for part in parts[1:]:
        out = ir.Union(out, part)
    sources = rewrite_sources.get()
    if sources is not None and sources.gives_sets():
        return out
    # entailed triples are a set: a relation that several geometries (or the data and the rule) give is one
    # triple, so the pattern's solutions are distinct over its own variables (the hidden ones projected away)
    visible: dict[Variable, None] = {}
    for t in (*plain, *topology):
        visible.update((x, None) for x in t if isinstance(x, Variable))
    if isinstance(graph, Variable):
        visible[graph] = None
    return ir.Distinct(ir.Project(out, tuple(visible)))


__all__ = ["RELATIONS", "is_topology", "rewrite_sources", "rewritten"]
