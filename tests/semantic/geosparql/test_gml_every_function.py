"""Every GeoSPARQL function of the table (semantic/sparql/geo.py, getSRID included) answers for GML and GeoJSON
arguments exactly as for WKT arguments holding the same geometries, in every mix, through SPARQL on real PostGIS;
a function that returns a geometry returns it in the serialisation of its first argument. (The WKT answers are
checked against shapely and pyproj elsewhere: test_geosparql_functions.py and the conformance cases.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import shapely
import sqlalchemy as sa
from rdflib import Literal, URIRef

from semantic.geosparql import FUNCTIONS, ArgKind, ResultKind, parse_geometry_literal
from semantic.rdf.load import load_rdf
from semantic.sparql.engine import SelectResult, SparqlEngine
from semantic.sparql.geo import GEO_FUNCTIONS

GEO = "http://www.opengis.net/ont/geosparql#"
NS = 'xmlns:gml=\\"http://www.opengis.net/gml/3.2\\"'
LAT_LON = 'srsName=\\"urn:ogc:def:crs:EPSG::4326\\"'

# (WKT, the same geometry in GML with the lat/lon URN, in GeoJSON) for the first and the second argument
PAIRS = {
    "polygons": (
        (
            "POLYGON((0 0, 2 0, 2 2, 0 2, 0 0))",
            f"<gml:Polygon {NS} {LAT_LON}><gml:exterior><gml:LinearRing><gml:posList>0 0 0 2 2 2 2 0 0 0"
            "</gml:posList></gml:LinearRing></gml:exterior></gml:Polygon>",
            '{\\"type\\": \\"Polygon\\", \\"coordinates\\": [[[0, 0], [2, 0], [2, 2], [0, 2], [0, 0]]]}',
        ),
        (
            "POLYGON((1 1, 3 1, 3 3, 1 3, 1 1))",
            f"<gml:Polygon {NS}><gml:exterior><gml:LinearRing><gml:posList>1 1 3 1 3 3 1 3 1 1</gml:posList>"
            "</gml:LinearRing></gml:exterior></gml:Polygon>",
            '{\\"type\\": \\"Polygon\\", \\"coordinates\\": [[[1, 1], [3, 1], [3, 3], [1, 3], [1, 1]]]}',
        ),
    ),
    "line-point": (
        (
            "LINESTRING(0 0, 3 4, 6 0)",
            f"<gml:LineString {NS}><gml:posList>0 0 3 4 6 0</gml:posList></gml:LineString>",
            '{\\"type\\": \\"LineString\\", \\"coordinates\\": [[0, 0], [3, 4], [6, 0]]}',
        ),
        (
            "POINT(3 1)",
            '<gml:Point xmlns:gml=\\"http://www.opengis.net/gml\\" srsName=\\"EPSG:4326\\"><gml:coordinates>3,1'
            "</gml:coordinates></gml:Point>",
            '{\\"type\\": \\"Point\\", \\"coordinates\\": [3, 1]}',
        ),
    ),
}
FORMS = {"wkt": ("asWKT", "wktLiteral"), "gml": ("asGML", "gmlLiteral"), "json": ("asGeoJSON", "geoJSONLiteral")}
SAMPLE = {ArgKind.NUMBER: "0.5", ArgKind.INTEGER: "1", ArgKind.UNITS: "<http://www.opengis.net/def/uom/OGC/1.0/metre>"}
PATTERN = '"T********"'
MIXES = [("wkt", "wkt"), ("gml", "gml"), ("gml", "wkt"), ("wkt", "gml"), ("json", "gml"), ("gml", "json")]


def _data(pair: str) -> str:
    lines = []
    for name, forms in zip("ab", PAIRS[pair], strict=True):
        for (prop, datatype), text in zip(FORMS.values(), forms, strict=True):
            lines.append(f'<http://example.org/{name}> <{GEO}{prop}> "{text}"^^<{GEO}{datatype}> .')
    return "\n".join(lines) + "\n"


def _call(iri: str, first: str, second: str) -> str:
    spec = FUNCTIONS[iri]
    geometries = iter((f"?{first}_a", f"?{second}_b"))
    args = [
        next(geometries) if kind is ArgKind.GEOMETRY else PATTERN if kind is ArgKind.PATTERN else SAMPLE[kind]
        for kind in spec.args
    ]
    return f"<{iri}>({', '.join(args)})"


def _query(mixes: list[tuple[str, str]]) -> str:
    patterns = " . ".join(f"ex:{n} geo:{prop} ?{form}_{n}" for form, (prop, _) in FORMS.items() for n in "ab")
    binds = [
        f"BIND({_call(iri, first, second)} AS ?f{i}_{first}_{second})"
        for i, iri in enumerate(sorted(GEO_FUNCTIONS))
        for first, second in mixes
    ]
    return (
        f"PREFIX ex: <http://example.org/> PREFIX geo: <{GEO}>\nSELECT * WHERE {{ {patterns}\n"
        + "\n".join(binds)
        + " }"
    )


def _value(term: Any) -> Any:
    """A comparable value: a geometry literal's geometry, any other term itself."""
    if isinstance(term, Literal) and str(term.datatype).startswith(GEO):
        return parse_geometry_literal(str(term), str(term.datatype)).geometry
    return term


@pytest.mark.parametrize("pair", sorted(PAIRS))
def test_every_function_takes_every_serialisation(pair: str, tmp_path: Path, catalog_engine: sa.Engine) -> None:
    data = tmp_path / "data.nt"
    data.write_text(_data(pair), encoding="utf-8")
    with catalog_engine.begin() as conn:
        assert load_rdf(conn, data).ill_typed == 0
    answer = SparqlEngine(catalog_engine).query(_query(MIXES))
    assert isinstance(answer, SelectResult) and len(answer.rows) == 1
    row = answer.rows[0]
    for i, iri in enumerate(sorted(GEO_FUNCTIONS)):
        reference = row.get(f"f{i}_wkt_wkt")
        assert reference is not None or iri.endswith(("minZ", "maxZ")), iri  # a 2D geometry has no Z
        for first, second in MIXES[1:]:
            got = row.get(f"f{i}_{first}_{second}")
            where = f"{iri} ({first}, {second})"
            if reference is None or got is None:
                assert got is reference, where
                continue
            expected, actual = _value(reference), _value(got)
            if iri.endswith("getSRID"):  # the CRS the first literal names, as the Python reader reads it too
                lexical = PAIRS[pair][0][list(FORMS).index(first)].replace('\\"', '"')
                crs = parse_geometry_literal(lexical, GEO + FORMS[first][1]).crs
                assert str(got) == crs, where
            elif isinstance(expected, shapely.Geometry) and expected.is_empty:
                assert actual.is_empty, where  # (an empty GML literal has no geometry type)
            elif isinstance(expected, shapely.Geometry):
                assert shapely.equals_exact(shapely.normalize(expected), shapely.normalize(actual), 1e-9), where
            else:
                assert actual == expected, where
            if FUNCTIONS[iri].result is ResultKind.GEOMETRY:
                assert isinstance(got, Literal) and got.datatype == URIRef(GEO + FORMS[first][1]), (
                    where
                )  # the first argument's serialisation
