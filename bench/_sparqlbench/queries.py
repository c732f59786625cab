"""The query set: each question as SPARQL over the virtual graph, as hand-written SQL over the tables, and (where
rdflib cannot run the SPARQL as written) as rdflib's equivalent SPARQL; plus how rows of each side become
comparable tuples.

Canonical rows: IRIs and plain literals as strings, numbers as Python numbers, unbound as ``None``. The
hand-written SQL returns key columns (as a person writing SQL would), turned into the engine's IRIs in Python
after the timing (:func:`feature_iri`, with R2RML's IRI-safe encoding of ``esdl_iri_safe``).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from _sparqlbench.data import BASE, Layout

PREFIXES = """PREFIX esdl: <https://w3id.org/esdl/ontology#>
PREFIX geo: <http://www.opengis.net/ont/geosparql#>
PREFIX geof: <http://www.opengis.net/def/function/geosparql/>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX qb: <http://purl.org/linked-data/cube#>
PREFIX xsd: <http://www.w3.org/2001/XMLSchema#>
"""
_UNRESERVED = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def iri_safe(value: str) -> str:
    """R2RML's IRI-safe form, as ``esdl_iri_safe`` writes it: unreserved ASCII and non-ASCII kept, the rest %XX."""
    return "".join(c if c in _UNRESERVED or ord(c) > 127 else "".join(f"%{b:02X}" for b in c.encode()) for c in value)


def time_lexical(t: dt.datetime) -> str:
    """An ``xsd:dateTime`` lexical form as the mappings write it (UTC, ``Z``)."""
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def feature_iri(variable_id: int, kind: str, time: dt.datetime, part: int) -> str:
    """The IRI the mappings give a feature."""
    return f"{BASE}feature/{variable_id}/{iri_safe(kind)}/{iri_safe(time_lexical(time))}/{part}"


def canon(term: Any) -> Any:
    """A comparable value of an rdflib term (or ``None``)."""
    if term is None:
        return None
    from rdflib import Literal, URIRef

    if isinstance(term, URIRef):
        return str(term)
    if isinstance(term, Literal):
        value = term.toPython()
        if isinstance(value, bool):
            return value
        if isinstance(value, int | float):
            return value
        if hasattr(value, "as_tuple"):  # Decimal
            return float(value)
        return str(term)
    return str(term)


def canon_solution(row: dict[str, Any] | Any, variables: Sequence[str]) -> tuple[Any, ...]:
    """A solution (a dict of terms, or an rdflib ``ResultRow``) as a tuple in ``variables`` order."""
    if isinstance(row, dict):
        return tuple(canon(row.get(v)) for v in variables)
    return tuple(canon(row[v]) for v in variables)


@dataclass(frozen=True)
class Query:
    """One question of the benchmark.

    Attributes:
        name: Short name (the key in the report).
        title: What it asks.
        variables: The SPARQL query's projected variables, in the order of the canonical tuples.
        sparql: The SPARQL text (prefixes included) for given constants.
        sql: The hand-written SQL (``sqlalchemy.text`` with ``:params``) and its parameters.
        sql_row: One SQL row as a canonical tuple.
        rdflib_sparql: rdflib's text where it differs from ``sparql`` (with the reason in ``rdflib_note``).
        variants: Constants of new texts for the translation-overhead figure.
    """

    name: str
    title: str
    variables: tuple[str, ...]
    sparql: Callable[[Any], str]
    sql: Callable[[Any], tuple[str, dict[str, Any]]]
    sql_row: Callable[[Any], tuple[Any, ...]]
    constant: Any
    variants: tuple[Any, ...]
    rdflib_sparql: Callable[[Any], str] | None = None
    rdflib_note: str | None = None

    def text(self, constant: Any = None) -> str:
        """The SPARQL text for ``constant`` (default: the benchmark's)."""
        return self.sparql(self.constant if constant is None else constant)

    def rdflib_text(self) -> str:
        """The text rdflib runs."""
        return (self.rdflib_sparql or self.sparql)(self.constant)


def _window(c: tuple[float, float, float, float]) -> str:
    x0, y0, x1, y1 = c
    return f"POLYGON(({x0} {y0}, {x1} {y0}, {x1} {y1}, {x0} {y1}, {x0} {y0}))"


def _spatial(c: Any) -> str:
    return (
        PREFIXES
        + """SELECT ?f ?w WHERE {
  ?f a esdl:DerivedFeature ; geo:hasDefaultGeometry ?g .
  ?g geo:asWKT ?w .
  FILTER(geof:sfIntersects(?w, "$VALUE"^^geo:wktLiteral))
}""".replace("$VALUE", _window(c))
    )


def _join(block: str) -> str:
    return (
        PREFIXES
        + """SELECT ?name ?f WHERE {
  ?r esdl:kind "$VALUE" ; rdfs:label ?name ; geo:hasDefaultGeometry ?rg .
  ?rg geo:asWKT ?rw .
  ?f a esdl:DerivedFeature ; geo:hasDefaultGeometry ?fg .
  ?fg geo:asWKT ?fw .
  FILTER(geof:sfWithin(?fw, ?rw))
}""".replace("$VALUE", block)
    )


def _attribute(threshold: float) -> str:
    return (
        PREFIXES
        + """SELECT ?f ?v ?n WHERE {
  ?f a esdl:DerivedFeature ; esdl:value ?v .
  FILTER(?v > $VALUE)
  OPTIONAL { ?f esdl:cellCount ?n FILTER(?n >= 40) }
}""".replace("$VALUE", repr(threshold))
    )


def _aggregate(start: str) -> str:
    return (
        PREFIXES
        + """SELECT ?name (COUNT(?o) AS ?n) (AVG(?m) AS ?avg) (MAX(?m) AS ?max) WHERE {
  ?o a qb:Observation ; esdl:region ?r ; esdl:mean ?m ; esdl:time ?t .
  ?r rdfs:label ?name .
  FILTER(?t >= "$VALUE"^^xsd:dateTime)
} GROUP BY ?name""".replace("$VALUE", start)
    )


def _topology(name: str) -> str:
    return (
        PREFIXES
        + """SELECT ?f WHERE {
  ?r rdfs:label "$VALUE" .
  ?f a esdl:DerivedFeature ; geo:sfWithin ?r .
}""".replace("$VALUE", name)
    )


def _topology_for_rdflib(name: str) -> str:
    return (
        PREFIXES
        + """SELECT ?f WHERE {
  ?r rdfs:label "$VALUE" ; geo:hasDefaultGeometry ?rg .
  ?rg geo:asWKT ?rw .
  ?f a esdl:DerivedFeature ; geo:hasDefaultGeometry ?fg .
  ?fg geo:asWKT ?fw .
  FILTER(geof:sfWithin(?fw, ?rw))
}""".replace("$VALUE", name)
    )


def _feature(row: Any, start: int = 0) -> str:
    return feature_iri(row[start], row[start + 1], row[start + 2], row[start + 3])


def _num(x: Any) -> Any:
    return None if x is None else float(x)


def make_queries(layout: Layout) -> list[Query]:
    """The five questions, with constants placed on ``layout``'s grid."""
    row, col = layout.centre()
    block = layout.block(row, col)
    # a region of another block, two rows up and one column right of the centre (inside the grid)
    trow, tcol = min(row + 2, layout.rows - 1), min(col + 1, layout.cols - 1)
    while trow * layout.cols + tcol >= layout.regions:
        trow -= 1
    region = layout.name(trow, tcol)
    # a 5° × 4° window (about 0.83 % of the grid's area) near the middle, off the grid lines
    cx, cy = -20 + 60 * 0.42, 30 + 40 * 0.43
    window = (round(cx, 2), round(cy, 2), round(cx + 5, 2), round(cy + 4, 2))
    blocks = sorted({layout.block(r, c) for r in range(0, layout.rows, 2) for c in range(0, layout.cols, 2)})
    names = [layout.name(r, c) for r in range(layout.rows) for c in range(layout.cols)][: layout.regions]
    feature_cols = "f.variable_id, f.kind, f.time, f.part"
    return [
        Query(
            name="spatial",
            title="features whose geometry intersects a 5° × 4° window (geof:sfIntersects), with their WKT",
            variables=("f", "w"),
            sparql=_spatial,
            sql=lambda c: (
                f"SELECT {feature_cols}, ST_AsText(f.geom) FROM feature AS f "
                "WHERE ST_Intersects(f.geom, ST_GeomFromText(:wkt, 4326))",
                {"wkt": _window(c)},
            ),
            sql_row=lambda r: (_feature(r), r[4]),
            constant=window,
            variants=tuple(
                (round(window[0] + 0.37 * k, 2), window[1], round(window[2] + 0.37 * k, 2), window[3])
                for k in range(1, 7)
            ),
        ),
        Query(
            name="join",
            title="spatial join: features within (geof:sfWithin) the 4 regions of a 2 × 2 block (esdl:kind)",
            variables=("name", "f"),
            sparql=_join,
            sql=lambda b: (
                f"SELECT r.name, {feature_cols} FROM region AS r JOIN feature AS f ON ST_Within(f.geom, r.geom) "
                "WHERE r.kind = :block",
                {"block": b},
            ),
            sql_row=lambda r: (r[0], _feature(r, 1)),
            constant=block,
            variants=tuple(b for b in blocks if b != block)[:6],
        ),
        Query(
            name="attribute",
            title="attribute filter esdl:value > 319.6 (1 % of the features), OPTIONAL cell count if >= 40",
            variables=("f", "v", "n"),
            sparql=_attribute,
            sql=lambda v: (
                f"SELECT {feature_cols}, f.value, CASE WHEN f.n_cells >= 40 THEN f.n_cells END "
                "FROM feature AS f WHERE f.value > :v",
                {"v": v},
            ),
            sql_row=lambda r: (_feature(r), _num(r[4]), r[5]),
            constant=319.6,
            variants=tuple(round(319.6 + 0.01 * k, 2) for k in range(1, 7)),
        ),
        Query(
            name="aggregate",
            title="per region: count, mean and max of the zonal means since 2020-04-01 (GROUP BY over observations)",
            variables=("name", "n", "avg", "max"),
            sparql=_aggregate,
            sql=lambda t: (
                "SELECT r.name, count(*), avg(z.mean), max(z.mean) FROM zonal_stat AS z "
                "JOIN region AS r ON r.id = z.region_id "
                "WHERE z.mean IS NOT NULL AND z.time >= CAST(:t AS timestamptz) GROUP BY r.name",
                {"t": t},
            ),
            sql_row=lambda r: (r[0], int(r[1]), _num(r[2]), _num(r[3])),
            constant="2020-04-01T00:00:00Z",
            variants=tuple(f"2020-04-{d:02d}T00:00:00Z" for d in range(2, 8)),
        ),
        Query(
            name="topology",
            title="topology relation as a triple pattern: ?f geo:sfWithin ?r for one region (by label)",
            variables=("f",),
            sparql=_topology,
            sql=lambda n: (
                f"SELECT {feature_cols} FROM region AS r JOIN feature AS f ON ST_Within(f.geom, r.geom) "
                "WHERE r.name = :name",
                {"name": n},
            ),
            sql_row=lambda r: (_feature(r),),
            constant=region,
            variants=tuple(n for n in names if n != region)[:6],
            rdflib_sparql=_topology_for_rdflib,
            rdflib_note="rdflib has no GeoSPARQL query-rewrite extension: the triple pattern ?f geo:sfWithin ?r is "
            "written out as the default geometries' WKT and FILTER(geof:sfWithin(?fw, ?rw))",
        ),
    ]


def _sort_key(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(
        ("", 0.0) if v is None else (("", round(float(v), 6)) if isinstance(v, int | float) else (str(v), 0.0))
        for v in row
    )


def same_rows(expected: list[tuple[Any, ...]], actual: list[tuple[Any, ...]], rel: float = 1e-9) -> tuple[bool, str]:
    """Multiset equality of canonical rows, floats within ``rel``; ``(equal, what differs)``."""
    if len(expected) != len(actual):
        return False, f"{len(expected)} rows expected, {len(actual)} got"
    a, b = sorted(expected, key=_sort_key), sorted(actual, key=_sort_key)
    for x, y in zip(a, b, strict=True):
        if len(x) != len(y):
            return False, f"row widths differ: {x} / {y}"
        for u, v in zip(x, y, strict=True):
            if isinstance(u, float) or isinstance(v, float):
                if u is None or v is None or not math.isclose(float(u), float(v), rel_tol=rel, abs_tol=1e-12):
                    return False, f"values differ: {x} / {y}"
            elif u != v:
                return False, f"rows differ: {x} / {y}"
    return True, ""
