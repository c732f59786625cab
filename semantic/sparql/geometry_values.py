"""The query-rewrite rule's sources: its geometry values in the quad table
(:data:`~semantic.geosparql.properties.GEOMETRY_VALUE`), and whether its union of cases can give a pair twice.

A geometry's value is read from every loaded serialisation whose ``o_geom`` the loader filled: ``geo:asWKT``,
``geo:asGML``, ``geo:asGeoJSON``, ``geo:hasSerialization`` and any subproperty of it the ontology (the shipped one
or the data's own axioms) names. The object is a ``geo:wktLiteral`` of the geometry, written from ``o_geom``, so
that two serialisations of one geometry (a WKT literal in CRS84 and one in EPSG:4326, a WKT and a GeoJSON literal)
are one row of the caller's ``UNION``: one geometry, not one per serialisation.

A relation the rule entails is one triple however many geometries give it, so the rewrite makes its solutions
distinct (``query_rewrite._with_topology``), which costs a grouping and the IRI lifting of the outermost SELECT. It is
left out where no pair can come twice (:class:`RewriteSources`): the quad table can match none of the rule's
triples (the signature), and in the mapped tables every geometry value and default geometry is single-valued:
one assertion per subject template, that template over a unique key of its table, the object on the same row.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from rdflib.term import URIRef, Variable

from semantic.geosparql.properties import GEOMETRY_VALUE, HAS_SERIALIZATION, SERIALIZATIONS
from semantic.mapping.r2rml import TermKind, TermMap
from semantic.sparql.terms import LITERAL

WKT_LITERAL = "http://www.opengis.net/ont/geosparql#wktLiteral"
HAS_DEFAULT_GEOMETRY = "http://www.opengis.net/ont/geosparql#hasDefaultGeometry"


def geometry_value_quads(tbox: Any, quads: Any, select: Callable[..., Any]) -> Any:
    """The select of every ``(geometry, GEOMETRY_VALUE, value)`` the quad table's serialisations give.

    Args:
        tbox: The saturated ontology (:class:`~semantic.mapping.tbox.TBox`): the subproperties of
            ``geo:hasSerialization``.
        quads: The quad table.
        select: Builds a select of the quad table's columns from an alias, with columns overridden by keyword.
    """
    predicates = {r.iri for r in tbox.sub_roles(HAS_SERIALIZATION) if not r.inverse} | set(SERIALIZATIONS)
    q = quads.alias()
    # (o_lang, o_num and o_ts are NULL in a geometry literal's row: kept, with their column types)
    override = {"p": GEOMETRY_VALUE, "o": sa.func.ST_AsText(q.c.o_geom), "o_dt": WKT_LITERAL}
    return select(q, **override).where(q.c.p.in_(sorted(predicates)), q.c.o_geom.is_not(None), q.c.o_kind == LITERAL)


_single: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


def _single_valued(mapped: Any) -> bool:
    """Whether the mapped tables give each subject at most one geometry value and one default geometry."""
    if mapped not in _single:
        seen: set[tuple[str | None, ...]] = set()
        ok = True
        for predicate in (GEOMETRY_VALUE, HAS_DEFAULT_GEOMETRY):
            for a in mapped.tmappings.assertions_for_property(predicate):
                subject = a.subject
                if subject.kind is not TermKind.TEMPLATE or a.exists is not None or not isinstance(a.object, TermMap):
                    ok = False
                    break
                # (placeholders are IRI-safe: templates with different skeletons never give one IRI)
                skeleton = tuple(p if isinstance(p, str) else None for p in subject.parts)
                columns = {p.name for p in subject.parts if not isinstance(p, str)}
                keys = mapped.unique_keys.get(a.triples_map.logical_table.key, ())
                if skeleton in seen or not any(set(k) <= columns for k in keys):
                    ok = False
                    break
                seen.add(skeleton)
        _single[mapped] = ok
    return _single[mapped]


class RewriteSources:
    """What the query-rewrite rule reads, for one translation: whether its cases give a set by themselves.

    Args:
        mapped: The virtual graph's sources (``None``: the quad table alone).
        signature: The quad signature the translation is rendered for (``None``: unknown).
        relations: The relation properties the rule derives (``geo:sfWithin`` ...).
    """

    def __init__(self, mapped: Any, signature: Any, relations: Iterable[str]) -> None:
        self.mapped = mapped
        self.signature = signature
        self.relations = tuple(relations)
        self._sets: bool | None = None

    def gives_sets(self) -> bool:
        """Whether no pair can come twice (decided once, on first use: most queries have no relation pattern)."""
        if self._sets is None:
            self._sets = self._decide()
        return self._sets

    def _decide(self) -> bool:
        if self.mapped is None or self.signature is None or not _single_valued(self.mapped):
            return False
        tbox, anything = self.mapped.tmappings.tbox, Variable("o")
        rule = (GEOMETRY_VALUE, HAS_DEFAULT_GEOMETRY, *self.relations)
        return not any(self.signature.may_match(tbox, URIRef(p), anything) for p in rule)


@contextmanager
def rewrite_for(mapped: Any, signature: Any) -> Iterator[None]:
    """Translations in this block are for these sources (``query_rewrite.rewrite_sources``)."""
    from semantic.sparql.query_rewrite import RELATIONS, rewrite_sources

    token = rewrite_sources.set(RewriteSources(mapped, signature, RELATIONS))
    try:
        yield
    finally:
        rewrite_sources.reset(token)


__all__ = ["RewriteSources", "geometry_value_quads", "rewrite_for"]
