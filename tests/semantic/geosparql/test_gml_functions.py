"""geof:asGML on real PostGIS: the GML it writes reads back, through this package's reader and through GDAL's (an
independent one), as the geometry it was written from; empty geometries are the empty literal (Req 16)."""

from __future__ import annotations

import pytest
import shapely
import sqlalchemy as sa
from osgeo import ogr

from semantic.geosparql import CRS84, call, geometry_param
from semantic.geosparql.gml import parse_gml_literal
from semantic.geosparql.literals import GML_WRITTEN_NAMESPACE

GEOF = "http://www.opengis.net/def/function/geosparql/"

GEOMETRIES = [
    "POINT(13.405 52.52)",
    "LINESTRING(0 0, 1 1, 2 0.5)",
    "POLYGON((0 0, 10 0, 10 10, 0 10, 0 0), (1 1, 2 1, 2 2, 1 1))",
    "MULTIPOINT((1 2), (3 4))",
    "MULTILINESTRING((0 0, 1 1), (2 2, 3 1))",
    "MULTIPOLYGON(((0 0, 1 0, 1 1, 0 0)), ((5 5, 6 5, 6 6, 5 5)))",
    "GEOMETRYCOLLECTION(POINT(5 5), LINESTRING(0 0, 1 1), POLYGON((0 0, 1 0, 1 1, 0 0)))",
    "POINT(-179.999999999 -89.123456789012)",
]


@pytest.fixture
def engine(catalog_engine: sa.Engine) -> sa.Engine:
    return catalog_engine


def _gml(conn: sa.Connection, wkt: str) -> str:
    return str(conn.execute(sa.select(call(GEOF + "asGML", geometry_param(shapely.from_wkt(wkt))))).scalar_one())


def test_as_gml_reads_back(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        texts = {wkt: _gml(conn, wkt) for wkt in GEOMETRIES}
    for wkt, text in texts.items():
        expected = shapely.from_wkt(wkt)
        assert f'xmlns:gml="{GML_WRITTEN_NAMESPACE}"' in text and f'srsName="{CRS84}"' in text, text
        value = parse_gml_literal(text)
        assert value.crs == CRS84
        assert shapely.equals_exact(value.geometry, expected, tolerance=1e-12), (wkt, text)
        independent = shapely.from_wkt(ogr.CreateGeometryFromGML(text).ExportToIsoWkt())
        assert shapely.equals_exact(independent, expected, tolerance=1e-12), (wkt, text)


def test_as_gml_of_an_empty_geometry_is_the_empty_literal(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        assert _gml(conn, "POINT EMPTY") == ""
        assert _gml(conn, "GEOMETRYCOLLECTION EMPTY") == ""
        null = call(GEOF + "asGML", sa.null().cast(geometry_param(shapely.Point(0, 0)).type))
        assert conn.execute(sa.select(null)).scalar_one() is None  # no geometry, no literal
    assert parse_gml_literal("").geometry.is_empty
