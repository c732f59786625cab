"""GeoSPARQL 1.0 / 1.1 conformance cases, one directory each under ``tests/conformance/geosparql/``.

A case is ``data.ttl`` (loaded into the quad table of a fresh database), ``query.rq`` (its first line names the
requirement: ``# Req 22 (/req/geometry-topology-extension/sf-query-functions)``; 1.0 numbering, or
``GeoSPARQL 1.1`` with the 1.1 requirement IRI) and the expected result: ``expected.srj`` (SPARQL JSON results,
a table or a boolean) or ``expected.ttl`` (the graph of a CONSTRUCT). Expected results were worked out by hand,
with shapely (DE-9IM matrices matched against the standard's patterns) and pyproj (WGS 84 geodesics), never by
running this engine. Case names start with their conformance class: ``core-``, ``topo-`` (topology vocabulary),
``geom-`` (geometry extension), ``gtop-`` (geometry topology extension), ``rdfs-`` (RDFS entailment extension),
``rewrite-`` (query rewrite extension).

The engine answers with the catalogue as a virtual graph (``virtual=True``); the catalogue tables are empty in
a fresh database, so only the loaded data answers.

Comparison rules:

* SELECT: the same variables, and the same solutions as a multiset (row order is not compared; no case has
  ORDER BY), blank nodes up to one bijection over the whole result. Terms are equal as RDF terms (lexical form,
  datatype, language), with two exceptions that apply when the *expected* term is
  - a literal of xsd:double, xsd:float or xsd:decimal: the actual term is a literal of the same datatype whose
    value is within ``REL_TOL`` (relative) or ``ABS_TOL`` (absolute) of it — computed measures such as
    distances are not bit-exact across geodesic implementations;
  - a geo:wktLiteral, geo:geoJSONLiteral or geo:gmlLiteral: the actual term has the same datatype and the same
    point set (shapely's topological equality; both empty counts as equal) — the standard fixes the geometry a
    function returns, not its vertex order or start point. GML is read by GDAL (a reader independent of the
    engine's). Cases that check a literal's exact text select ``STR()``.
* ASK: the same boolean. CONSTRUCT: isomorphic graphs.

``KNOWN_FAILURES`` lists, with the reason, every case the engine does not pass yet; such a case must still fail
(an xfail), and one that starts passing fails the test so that the entry gets removed.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import shapely
import sqlalchemy as sa
from osgeo import ogr
from rdflib import BNode, Graph, Literal, URIRef
from rdflib.term import Identifier
from shapely.geometry.base import BaseGeometry

from esdl_testing.paths import CONFORMANCE_DIR
from esdl_testing.w3c.compare import canonical_term, compare_graphs
from esdl_testing.w3c.results import ResultTable, identifiers, parse_srj, read_graph
from semantic.rdf.load import load_rdf
from semantic.sparql.engine import SelectResult, SparqlEngine

CASES_DIR = CONFORMANCE_DIR / "geosparql"
CASES = sorted(p.name for p in CASES_DIR.iterdir() if p.is_dir())

CLASSES = {
    "core": "Core",
    "topo": "Topology Vocabulary Extension",
    "geom": "Geometry Extension",
    "gtop": "Geometry Topology Extension",
    "rdfs": "RDFS Entailment Extension",
    "rewrite": "Query Rewrite Extension",
}
"""Conformance class of a case, by the prefix of its name."""

REL_TOL = 1e-6
ABS_TOL = 1e-9

# URIRefs rather than rdflib's closed XSD namespace: pytest probes module globals and that one warns when probed
_XSD = "http://www.w3.org/2001/XMLSchema#"
DOUBLE, FLOAT, DECIMAL, INTEGER = (URIRef(_XSD + t) for t in ("double", "float", "decimal", "integer"))
GEO = "http://www.opengis.net/ont/geosparql#"
WKT = URIRef(GEO + "wktLiteral")
GEOJSON = URIRef(GEO + "geoJSONLiteral")
GML = URIRef(GEO + "gmlLiteral")
NUMERIC = frozenset({DOUBLE, FLOAT, DECIMAL})
CRS84_IRIS = frozenset({"http://www.opengis.net/def/crs/OGC/1.3/CRS84", "http://www.opengis.net/def/crs/OGC/0/CRS84"})
EPSG_4326 = "http://www.opengis.net/def/crs/EPSG/0/4326"

KNOWN_FAILURES: dict[str, str] = {}


# -- comparison ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """Whether an answer matches the expected result, and a short diff when it does not."""

    equal: bool
    diff: str = ""


_LAT_LON_GML = re.compile(r'srsName="(?:urn:ogc:def:crs:EPSG::4326|http://www\.opengis\.net/def/crs/EPSG/0/4326)"')


def _gml_geometry(text: str) -> BaseGeometry | None:
    """A gmlLiteral's geometry as GDAL reads it; the lat/lon forms of EPSG:4326 swapped (GDAL keeps the order)."""
    if not text:
        return shapely.GeometryCollection()
    read = ogr.CreateGeometryFromGML(text)
    if read is None:
        return None
    geom = shapely.from_wkt(read.ExportToIsoWkt())
    return shapely.transform(geom, lambda xy: xy[:, ::-1]) if _LAT_LON_GML.search(text) else geom


def _geometry(term: Literal) -> BaseGeometry | None:
    """The longitude/latitude geometry of a wktLiteral, geoJSONLiteral or gmlLiteral (``None``: unreadable)."""
    text = str(term).strip()
    try:
        if term.datatype == GML:
            return _gml_geometry(text)
        if term.datatype == GEOJSON:
            return shapely.from_geojson(text) if text else shapely.GeometryCollection()
        crs = None
        if text.startswith("<"):
            crs, text = text[1 : text.index(">")], text[text.index(">") + 1 :].strip()
        if not text:
            return shapely.GeometryCollection()
        geom = shapely.from_wkt(text)
        if crs is None or crs in CRS84_IRIS:
            return geom
        if crs == EPSG_4326:
            return shapely.transform(geom, lambda xy: xy[:, ::-1])
    except (shapely.errors.ShapelyError, ValueError):
        pass
    return None


def same_geometry(expected: Literal, actual: Literal) -> bool:
    """Same datatype and the same point set."""
    if expected.datatype != actual.datatype:
        return False
    e, a = _geometry(expected), _geometry(actual)
    if e is None or a is None:
        return False
    if e.is_empty or a.is_empty:
        return e.is_empty and a.is_empty
    if shapely.equals(e, a):
        return True
    return bool(shapely.equals_exact(shapely.normalize(e), shapely.normalize(a), tolerance=ABS_TOL))


def same_number(expected: Literal, actual: Literal) -> bool:
    """Same datatype and a value within the tolerance."""
    if expected.datatype != actual.datatype:
        return False
    try:
        e, a = float(str(expected)), float(str(actual))
    except ValueError:
        return False
    return math.isclose(e, a, rel_tol=REL_TOL, abs_tol=ABS_TOL)


def same_term(expected: Identifier, actual: Identifier) -> bool:
    """Term equality under the module's rules (blank nodes are handled by the caller)."""
    if isinstance(expected, Literal) and isinstance(actual, Literal) and not expected.language:
        if expected.datatype in NUMERIC:
            return same_number(expected, actual)
        if expected.datatype in (WKT, GEOJSON, GML):
            return same_geometry(expected, actual)
    return canonical_term(expected) == canonical_term(actual)


Row = dict[str, Identifier]


def _unify(expected: Row, actual: Row, variables: list[str], fwd: dict, rev: dict) -> list[BNode] | None:
    """Extend the blank-node bijection so that the rows match; the blank nodes added, or ``None``."""
    added: list[BNode] = []
    for v in variables:
        e, a = expected.get(v), actual.get(v)
        if e is None or a is None:
            ok = e is None and a is None
        elif isinstance(e, BNode) and isinstance(a, BNode):
            ok = fwd.get(e, a) == a and rev.get(a, e) == e
            if ok and e not in fwd:
                fwd[e], rev[a] = a, e
                added.append(e)
        elif isinstance(e, BNode) or isinstance(a, BNode):
            ok = False  # a blank node matches only a blank node
        else:
            ok = same_term(e, a)
        if not ok:
            for b in added:
                del rev[fwd.pop(b)]
            return None
    return added


def compare_tables(expected: ResultTable, actual: ResultTable) -> Verdict:
    """Multisets of solutions under the module's rules, by backtracking (results here are small)."""
    if set(expected.variables) != set(actual.variables):
        return Verdict(False, f"variables differ: expected {expected.variables}, got {actual.variables}")
    variables = sorted(expected.variables)
    exp, act = expected.rows, actual.rows
    used = [False] * len(act)
    fwd: dict[BNode, BNode] = {}
    rev: dict[BNode, BNode] = {}

    def search(i: int) -> bool:
        if i == len(exp):
            return True
        for j, row in enumerate(act):
            if used[j]:
                continue
            added = _unify(exp[i], row, variables, fwd, rev)
            if added is None:
                continue
            used[j] = True
            if search(i + 1):
                return True
            used[j] = False
            for b in added:
                del rev[fwd.pop(b)]
        return False

    if len(exp) == len(act) and search(0):
        return Verdict(True)
    return Verdict(False, _diff(exp, act, variables))


def _diff(exp: list[Row], act: list[Row], variables: list[str]) -> str:
    remaining = list(act)
    missing = []
    for row in exp:
        match = next((r for r in remaining if _unify(row, r, variables, {}, {}) is not None), None)
        if match is None:
            missing.append(row)
        else:
            remaining.remove(match)
    lines = [f"expected {len(exp)} rows, got {len(act)}"]
    for label, rows in (("missing", missing), ("unexpected", remaining)):
        if rows:
            lines.append(f"{label} ({len(rows)}):")
            lines += ["  " + " ".join(f"?{v}={r[v].n3() if v in r else 'UNDEF'}" for v in variables) for r in rows[:12]]
    return "\n".join(lines)


# -- running a case ------------------------------------------------------------------------------------------


def expected_result(case: Path) -> ResultTable | bool | Graph:
    """The case's expected result: a table or a boolean (``expected.srj``), or a graph (``expected.ttl``)."""
    if (case / "expected.ttl").exists():
        return read_graph(case / "expected.ttl")
    return parse_srj((case / "expected.srj").read_text(encoding="utf-8"))


def run_case(case: Path, engine: sa.Engine) -> Verdict:
    """Load the data, answer the query, compare; an engine error is a failed case with its message."""
    with engine.begin() as conn:
        load_rdf(conn, case / "data.ttl", graph=None)
    expected = expected_result(case)
    try:
        answer = SparqlEngine(engine, virtual=True).query((case / "query.rq").read_text(encoding="utf-8"))
    except Exception as err:  # the engine's named errors and SQL errors alike: the case fails, with the reason
        return Verdict(False, f"{type(err).__name__}: {err}")
    if isinstance(expected, bool):
        return Verdict(answer is expected, f"expected {expected}, got {answer!r}")
    if isinstance(expected, Graph):
        if not isinstance(answer, Graph):
            return Verdict(False, f"expected a graph, got {type(answer).__name__}")
        verdict = compare_graphs(expected, answer)
        return Verdict(verdict.equal, verdict.diff)
    if not isinstance(answer, SelectResult):
        return Verdict(False, f"expected a result table, got {type(answer).__name__}")
    return compare_tables(expected, ResultTable(tuple(answer.variables), [identifiers(r) for r in answer.rows]))


@pytest.mark.parametrize("name", CASES)
def test_geosparql_case(name: str, catalog_engine: sa.Engine) -> None:
    verdict = run_case(CASES_DIR / name, catalog_engine)
    if name in KNOWN_FAILURES:
        assert not verdict.equal, f"{name} passes now: remove it from KNOWN_FAILURES"
        pytest.xfail(KNOWN_FAILURES[name])
    assert verdict.equal, verdict.diff


def test_cases_are_complete() -> None:
    """Every case has data, a query naming its requirement and its class, and one expected result."""
    assert len(CASES) >= 30
    assert set(KNOWN_FAILURES) <= set(CASES)
    for name in CASES:
        case = CASES_DIR / name
        assert name.split("-")[0] in CLASSES, name
        assert (case / "data.ttl").is_file(), name
        first = (case / "query.rq").read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("# ") and "/req/" in first, f"{name}: the first line must name the requirement"
        results = [p.name for p in case.iterdir() if p.name.startswith("expected.")]
        assert results in (["expected.srj"], ["expected.ttl"]), f"{name}: {results}"
        if results == ["expected.srj"]:
            json.loads((case / "expected.srj").read_text(encoding="utf-8"))
    assert {name.split("-")[0] for name in CASES} == set(CLASSES), "every conformance class has cases"


# -- the comparator itself -----------------------------------------------------------------------------------


def test_comparator_rules() -> None:
    """Tolerances and geometry equality apply as documented, and only where documented."""
    d = DOUBLE
    assert same_term(Literal("5.0", datatype=d), Literal("5.0000000001E0", datatype=d))
    assert not same_term(Literal("5.0", datatype=d), Literal("5.001", datatype=d))
    assert not same_term(Literal("5.0", datatype=d), Literal("5.0", datatype=DECIMAL))
    assert not same_term(Literal("5", datatype=INTEGER), Literal("05", datatype=INTEGER, normalize=False))
    square = Literal("POLYGON((0 0, 1 0, 1 1, 0 1, 0 0))", datatype=WKT)
    rotated = Literal("POLYGON((1 1, 0 1, 0 0, 1 0, 1 1))", datatype=WKT)
    assert same_term(square, rotated)
    assert same_term(Literal(f"<{EPSG_4326}> POINT(45 10)", datatype=WKT), Literal("POINT(10 45)", datatype=WKT))
    assert not same_term(square, Literal("POLYGON((0 0, 2 0, 2 2, 0 2, 0 0))", datatype=WKT))
    assert not same_term(square, Literal(str(square)))  # a plain string is not a geometry
    assert same_term(Literal("", datatype=WKT), Literal("POINT EMPTY", datatype=WKT))
    gml = '<gml:Point xmlns:gml="http://www.opengis.net/gml/3.2"{}><gml:pos>{}</gml:pos></gml:Point>'
    assert same_term(Literal(gml.format("", "10 45"), datatype=GML), Literal(gml.format("", "10.0 45.0"), datatype=GML))
    lat_lon = gml.format(f' srsName="{EPSG_4326}"', "45 10")
    assert same_term(Literal(gml.format("", "10 45"), datatype=GML), Literal(lat_lon, datatype=GML))
    assert not same_term(Literal(gml.format("", "10 45"), datatype=GML), Literal(gml.format("", "45 10"), datatype=GML))
    assert not same_term(Literal(gml.format("", "10 45"), datatype=GML), Literal("POINT(10 45)", datatype=WKT))
    point = Literal('{"type": "Point", "coordinates": [10, 45]}', datatype=GEOJSON)
    assert same_term(point, Literal('{"coordinates":[10.0,45.0],"type":"Point"}', datatype=GEOJSON))
    exp = ResultTable(("x", "y"), [{"x": BNode("a"), "y": BNode("a")}, {"x": BNode("b"), "y": URIRef("http://e/1")}])
    good = ResultTable(("y", "x"), [{"x": BNode("q"), "y": URIRef("http://e/1")}, {"x": BNode("p"), "y": BNode("p")}])
    bad = ResultTable(("x", "y"), [{"x": BNode("p"), "y": BNode("r")}, {"x": BNode("q"), "y": URIRef("http://e/1")}])
    assert compare_tables(exp, good).equal
    assert not compare_tables(exp, bad).equal
    assert not compare_tables(exp, ResultTable(("x", "y"), good.rows * 2)).equal
