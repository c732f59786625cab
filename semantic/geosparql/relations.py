"""GeoSPARQL topological relations (Simple Features, Egenhofer, RCC8) as index-friendly PostGIS predicates.

One table serves both the query functions (``geof:sfWithin(?a, ?b)``) and the topology vocabulary properties
(``?a geo:sfWithin ?b``): each :class:`Relation` holds its DE-9IM definition, the PostGIS predicate that computes
it fastest, and whether a bounding-box prefilter ``a && b`` is implied (it is whenever every pattern needs the
interiors or boundaries to meet; a GiST index then narrows the candidates before the exact test).

Source of the patterns: GeoSPARQL 1.1 (OGC 22-047), clause "Topology Vocabulary Extension", tables "Simple
Features Topological Relations", "Egenhofer Topological Relations" and "RCC8 Topological Relations" (the same as
OGC 11-052r4 tables 2-4, except that 1.1 misprints sfDisjoint as ``FF**FF****``, ten characters; 1.0's
``FF*FF****`` is used). Where the effective definition differs from the printed pattern, :attr:`Relation.note`
says why; ``tests/semantic/geosparql/test_geosparql_functions.py`` checks the effective definitions against
its own transcription of the printed tables on the geometry types the standard lists.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from semantic.geosparql.literals import GEO, GEOF, InvalidArgument, UnsupportedFunction, sql_function
from semantic.sql import case

Dims = tuple[int, int]
"""Topological dimensions of the two geometries (0 point, 1 curve, 2 surface; ``ST_Dimension``)."""

POINT, CURVE, SURFACE = 0, 1, 2

_PATTERN = re.compile(r"[TF*012]{9}")
# matrix cells II, IB, BI, BB: a pattern that needs one of them non-empty needs the geometries to meet
_MEETING_CELLS = (0, 1, 3, 4)

# SFA equality (a ⊆ b and b ⊆ a); the printed TFFFTFFFT also needs the boundaries to meet
_EQUALS_NOTE = (
    "the printed pattern TFFFTFFFT needs the boundaries to meet, so it is false for equal points or closed lines "
    "(empty boundaries); equality is taken as in Simple Features, a ⊆ b ∧ b ⊆ a, i.e. T*F**FFF* (ST_Equals), "
    "which agrees with TFFFTFFFT for surfaces"
)


def requires_intersection(pattern: str) -> bool:
    """Whether every geometry pair matching the DE-9IM ``pattern`` intersects (so their boxes do too)."""
    return any(pattern[i] in "T012" for i in _MEETING_CELLS)


def check_pattern(pattern: str) -> str:
    """``pattern`` upper-cased, if it is a DE-9IM intersection pattern: 9 characters of ``T F * 0 1 2``.

    Raises:
        InvalidArgument: It is not.
    """
    upper = pattern.upper()
    if not _PATTERN.fullmatch(upper):
        raise InvalidArgument(f"invalid DE-9IM pattern {pattern!r}: 9 characters of T, F, *, 0, 1, 2")
    return upper


def bbox_overlaps(a: sa.ColumnElement[Any], b: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
    """``a && b``: the bounding boxes intersect (the operator a GiST index on either side serves)."""
    return a.op("&&", return_type=sa.Boolean())(b)


def _relate(a: sa.ColumnElement[Any], b: sa.ColumnElement[Any], pattern: str) -> sa.ColumnElement[bool]:
    param = sa.bindparam(None, pattern, type_=sa.Text(), unique=True)
    return sql_function("ST_Relate", a, b, param, type_=sa.Boolean())


@dataclass(frozen=True, eq=False)
class Relation:
    """One topological relation of GeoSPARQL.

    Attributes:
        name: Local name, shared by the function (``geof:``) and the property (``geo:``): ``sfWithin``.
        family: ``sf``, ``eh`` or ``rcc8``.
        standard: The DE-9IM pattern(s) as the standard prints them (rows separated by ``|``).
        patterns: The effective definition when it does not depend on dimensions: true iff any pattern matches.
        by_dimension: The effective definition when it does: patterns per (dim a, dim b); other pairs are false.
        native: The PostGIS predicate equal to the effective definition, if there is one (else ``ST_Relate``).
        negated: The relation is ``NOT native(a, b)`` (disjoint).
        note: Why the effective definition differs from :attr:`standard`, or what it adds; empty if it does not.
    """

    name: str
    family: str
    standard: str
    patterns: tuple[str, ...] = ()
    by_dimension: Mapping[Dims, tuple[str, ...]] = field(default_factory=dict)
    native: str | None = None
    negated: bool = False
    note: str = ""

    @property
    def function_iri(self) -> str:
        """The query function IRI, ``geof:<name>``."""
        return GEOF + self.name

    @property
    def property_iri(self) -> str:
        """The topology vocabulary property IRI, ``geo:<name>``."""
        return GEO + self.name

    @property
    def all_patterns(self) -> tuple[str, ...]:
        """Every pattern of the effective definition, whatever the dimensions."""
        return self.patterns + tuple(p for rows in self.by_dimension.values() for p in rows)

    @property
    def prefilter(self) -> bool:
        """Whether the relation implies ``a && b`` (every pattern needs the geometries to meet)."""
        return not self.negated and all(requires_intersection(p) for p in self.all_patterns)

    def patterns_for(self, dims: Dims) -> tuple[str, ...]:
        """The patterns defining the relation for geometries of dimensions ``dims`` (empty: always false)."""
        return self.by_dimension.get(dims, ()) if self.by_dimension else self.patterns

    def de9im(self, a: sa.ColumnElement[Any], b: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
        """The relation by its DE-9IM definition: ``ST_Relate`` per pattern, after ``a && b`` where implied."""

        def rows(patterns: tuple[str, ...]) -> sa.ColumnElement[bool]:
            return sa.or_(*(_relate(a, b, p) for p in patterns))

        if self.by_dimension:
            dim_a = sql_function("ST_Dimension", a, type_=sa.Integer())
            dim_b = sql_function("ST_Dimension", b, type_=sa.Integer())
            unknown = sa.or_(dim_a.is_(None), dim_b.is_(None))  # a NULL geometry: NULL (an error), not false
            whens = [(sa.and_(dim_a == da, dim_b == db), rows(ps)) for (da, db), ps in self.by_dimension.items()]
            test: sa.ColumnElement[bool] = case((unknown, sa.null()), *whens, else_=sa.false())
        else:
            test = rows(self.patterns)
        return sa.and_(bbox_overlaps(a, b), test) if self.prefilter else test

    def sql(self, a: sa.ColumnElement[Any], b: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
        """The relation as the fastest SQL: the native predicate if any (PostGIS adds its own index condition
        through its support functions), else :meth:`de9im`."""
        if self.native is None:
            return self.de9im(a, b)
        test = sql_function(self.native, a, b, type_=sa.Boolean())
        return sa.not_(test) if self.negated else test


_A_A, _P_P, _L_L = (SURFACE, SURFACE), (POINT, POINT), (CURVE, CURVE)
_MIXED = ((POINT, CURVE), (POINT, SURFACE), (CURVE, SURFACE), (CURVE, POINT), (SURFACE, POINT), (SURFACE, CURVE))
_INTERSECTS = ("T********", "*T*******", "***T*****", "****T****")
_TOUCHES = ("FT*******", "F**T*****", "F***T****")

RELATION_LIST: tuple[Relation, ...] = (
    # Simple Features
    Relation("sfEquals", "sf", "TFFFTFFFT", ("T*F**FFF*",), native="ST_Equals", note=_EQUALS_NOTE),
    Relation("sfDisjoint", "sf", "FF*FF****", ("FF*FF****",), native="ST_Intersects", negated=True),
    Relation("sfIntersects", "sf", " | ".join(_INTERSECTS), _INTERSECTS, native="ST_Intersects"),
    Relation("sfTouches", "sf", " | ".join(_TOUCHES), _TOUCHES, native="ST_Touches"),
    Relation("sfWithin", "sf", "T*F**F***", ("T*F**F***",), native="ST_Within"),
    Relation("sfContains", "sf", "T*****FF*", ("T*****FF*",), native="ST_Contains"),
    Relation(
        "sfOverlaps",
        "sf",
        "T*T***T** for A/A, P/P | 1*T***T** for L/L",
        by_dimension={_A_A: ("T*T***T**",), _P_P: ("T*T***T**",), _L_L: ("1*T***T**",)},
        native="ST_Overlaps",
        note="geometries of different dimensions never overlap (as in Simple Features)",
    ),
    Relation(
        "sfCrosses",
        "sf",
        "T*T***T** for P/L, P/A, L/A | 0******** for L/L",
        by_dimension={**dict.fromkeys(_MIXED, ("T*T***T**",)), _L_L: ("0********",)},
        native="ST_Crosses",
        note="L/P, A/P and A/L, which the standard leaves out, use the same (transpose-symmetric) pattern, so that "
        "crosses is symmetric as in Simple Features; P/P and A/A never cross",
    ),
    # Egenhofer
    Relation("ehEquals", "eh", "TFFFTFFFT", ("T*F**FFF*",), native="ST_Equals", note=_EQUALS_NOTE),
    Relation("ehDisjoint", "eh", "FF*FF****", ("FF*FF****",), native="ST_Intersects", negated=True),
    Relation("ehMeet", "eh", " | ".join(_TOUCHES), _TOUCHES, native="ST_Touches"),
    Relation("ehOverlap", "eh", "T*T***T**", ("T*T***T**",)),
    Relation("ehCovers", "eh", "T*TFT*FF*", ("T*TFT*FF*",)),
    Relation("ehCoveredBy", "eh", "TFF*TFT**", ("TFF*TFT**",)),
    Relation("ehInside", "eh", "TFF*FFT**", ("TFF*FFT**",)),
    Relation("ehContains", "eh", "T*TFF*FF*", ("T*TFF*FF*",)),
    # RCC8 (defined for regions; the patterns are applied to any geometries as printed)
    Relation("rcc8eq", "rcc8", "TFFFTFFFT", ("T*F**FFF*",), native="ST_Equals", note=_EQUALS_NOTE),
    Relation("rcc8dc", "rcc8", "FFTFFTTTT", ("FFTFFTTTT",)),
    Relation("rcc8ec", "rcc8", "FFTFTTTTT", ("FFTFTTTTT",)),
    Relation("rcc8po", "rcc8", "TTTTTTTTT", ("TTTTTTTTT",)),
    Relation("rcc8tppi", "rcc8", "TTTFTTFFT", ("TTTFTTFFT",)),
    Relation("rcc8tpp", "rcc8", "TFFTTFTTT", ("TFFTTFTTT",)),
    Relation("rcc8ntpp", "rcc8", "TFFTFFTTT", ("TFFTFFTTT",)),
    Relation("rcc8ntppi", "rcc8", "TTTFFTFFT", ("TTTFFTFFT",)),
)

RELATIONS: dict[str, Relation] = {iri: rel for rel in RELATION_LIST for iri in (rel.function_iri, rel.property_iri)}
"""Every topological relation by function IRI (``geof:sfWithin``) and by property IRI (``geo:sfWithin``)."""

RELATE = GEOF + "relate"


def relation(iri: str) -> Relation:
    """The relation a ``geof:`` function or ``geo:`` property IRI names.

    Raises:
        UnsupportedFunction: ``iri`` names no topological relation.
    """
    try:
        return RELATIONS[iri]
    except KeyError:
        raise UnsupportedFunction(iri, "not a GeoSPARQL topological relation") from None


def relation_sql(iri: str, a: sa.ColumnElement[Any], b: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
    """``iri`` (function or property) between the geometry expressions ``a`` and ``b``, as index-friendly SQL.

    Raises:
        UnsupportedFunction: ``iri`` names no topological relation.
    """
    return relation(iri).sql(a, b)


def relate(
    a: sa.ColumnElement[Any], b: sa.ColumnElement[Any], pattern: str | sa.ColumnElement[Any]
) -> sa.ColumnElement[bool]:
    """``geof:relate(a, b, pattern)``: ``ST_Relate(a, b, :pattern)``.

    A constant pattern is validated and bound; one that needs the geometries to meet adds ``a && b``. A pattern
    computed in SQL is upper-cased and checked there: an invalid one gives NULL (a SPARQL error: the FILTER is
    false) instead of a database error.

    Raises:
        InvalidArgument: A constant pattern is not 9 characters of ``T F * 0 1 2``.
    """
    if isinstance(pattern, str):
        checked = check_pattern(pattern)
        test = _relate(a, b, checked)
        return sa.and_(bbox_overlaps(a, b), test) if requires_intersection(checked) else test
    upper = sql_function("upper", pattern, type_=sa.Text())
    valid = upper.op("~", return_type=sa.Boolean())(sa.bindparam(None, "^[TF*012]{9}$", unique=True))
    return case((valid, sql_function("ST_Relate", a, b, upper, type_=sa.Boolean())), else_=sa.null())
