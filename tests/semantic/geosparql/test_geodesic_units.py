"""Distances and units (GeoSPARQL 1.1, geof:distance / geof:buffer with a units IRI), checked against pyproj's
``Geod`` on the WGS 84 ellipsoid, never against the engine itself.

The rule (docs/sparql.md, "Distances and units"): geometries are WGS 84 longitude/latitude in SQL, whatever CRS
their literal names (PROJ transforms the others, datum shift included); a length unit (metre, kilometre, foot,
mile) gives the distance on the WGS 84 ellipsoid: between two points the ellipsoid's geodesic, exactly; to a line
or surface the edges are great-circle arcs of PostGIS's sphere and the distance to their nearest point is
measured on the ellipsoid, which deviates from edges drawn as ellipsoidal geodesics by up to 1e-4 of the distance
for edges of 1 degree and 2 % for edges of 40 degrees. An angular unit (degree, radian) gives the planar distance
in the longitude/latitude plane, edges straight there: the distance "in the spatial reference system of geom1"
(GeoSPARQL 1.1, geof:distance) for a geographic CRS.
"""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
import shapely
import sqlalchemy as sa
from pyproj import Geod, Transformer

from semantic.geosparql import call, geometry_param, literal_geometry

GEOF = "http://www.opengis.net/def/function/geosparql/"
UOM = "http://www.opengis.net/def/uom/OGC/1.0/"
QUDT = "http://qudt.org/vocab/unit/"
EPSG_UOM = "http://www.opengis.net/def/uom/EPSG/0/"
WKT = "http://www.opengis.net/ont/geosparql#wktLiteral"
WGS84 = Geod(ellps="WGS84")


@pytest.fixture
def engine(catalog_engine: sa.Engine) -> sa.Engine:
    return catalog_engine


def distances(conn: sa.Connection, pairs: list[tuple[Any, Any]], units: str) -> list[float]:
    """geof:distance of each pair (geometry SQL expressions), one query."""
    exprs = [call(GEOF + "distance", a, b, units).label(f"d{i}") for i, (a, b) in enumerate(pairs)]
    return [float(v) for v in conn.execute(sa.select(*exprs)).one()]


def point(lon: float, lat: float) -> Any:
    return geometry_param(shapely.Point(lon, lat))


def test_metres_between_points_are_geodesics_on_wgs84(engine: sa.Engine) -> None:
    """Random pairs over the whole globe and the hard places: poles, the antimeridian, near-antipodes, a metre."""
    rng = random.Random(16)
    pairs = [
        ((rng.uniform(-180, 180), rng.uniform(-90, 90)), (rng.uniform(-180, 180), rng.uniform(-90, 90)))
        for _ in range(40)
    ]
    pairs += [
        ((179.5, 10.0), (-179.5, 10.0)),  # across the antimeridian: 1 degree of longitude, not 359
        ((0.0, 89.9), (180.0, 89.9)),  # over the pole
        ((0.0, -90.0), (45.0, -89.0)),
        ((0.0, 0.0), (179.5, 0.3)),  # nearly antipodal: where Vincenty's method fails to converge
        ((10.0, 50.0), (10.0000141, 50.0)),  # about one metre
    ]
    with engine.connect() as conn:
        got = distances(conn, [(point(*a), point(*b)) for a, b in pairs], UOM + "metre")
        miles = distances(conn, [(point(*a), point(*b)) for a, b in pairs[:5]], QUDT + "MI")
    for (a, b), d in zip(pairs, got, strict=True):
        _, _, expected = WGS84.inv(a[0], a[1], b[0], b[1])
        assert d == pytest.approx(expected, rel=1e-6, abs=1e-6), (a, b)
    for (a, b), d in zip(pairs[:5], miles, strict=True):
        assert d == pytest.approx(WGS84.inv(a[0], a[1], b[0], b[1])[2] / 1609.344, rel=1e-6)


SPHERE = Geod(a=6_371_008.771415, b=6_371_008.771415)
"""The sphere of PostGIS's geography edges (its mean radius, ``WGS84_RADIUS`` in liblwgeom)."""


def nearest_on_edge(
    edge: tuple[tuple[float, float], tuple[float, float]], probe: tuple[float, float], path: Geod
) -> float:
    """WGS 84 geodesic distance from ``probe`` to the nearest of 20,000 points along ``edge`` drawn as ``path``'s
    geodesic (the ellipsoid's, or a great circle of the sphere)."""
    along = [edge[0], *path.npts(*edge[0], *edge[1], 20_000), edge[1]]
    lons, lats = zip(*along, strict=True)
    return min(WGS84.inv([probe[0]] * len(along), [probe[1]] * len(along), lons, lats)[2])


@pytest.mark.parametrize(("length", "lat", "deviation"), [(40.0, 60.0, 6e-3), (40.0, 30.0, 2e-2), (1.0, 30.0, 1.1e-4)])
def test_metres_to_a_line_take_its_edges_as_great_circle_arcs(
    engine: sa.Engine, length: float, lat: float, deviation: float
) -> None:
    """A long east-west edge is a great arc bulging poleward in metres (a point north of it is nearer than the
    straight longitude/latitude segment says), and a straight line in degrees. The arc is the sphere's great
    circle (PostGIS geography), the distance to its nearest point measured on the ellipsoid: the deviation from an
    edge drawn as the ellipsoid's geodesic grows with the edge's length — the bound docs/sparql.md states."""
    edge, probe = ((0.0, lat), (length, lat)), (length / 2, lat + length / 20)
    line = geometry_param(shapely.LineString(edge))
    with engine.connect() as conn:
        (metres,) = distances(conn, [(point(*probe), line)], UOM + "metre")
        (degrees,) = distances(conn, [(point(*probe), line)], UOM + "degree")
    assert metres == pytest.approx(nearest_on_edge(edge, probe, SPHERE), rel=1e-5)
    geodesic_edge = nearest_on_edge(edge, probe, WGS84)
    assert abs(metres - geodesic_edge) <= deviation * geodesic_edge
    straight = WGS84.inv(*probe, probe[0], lat)[2]  # to the straight segment's nearest point, due south
    assert metres < straight
    assert degrees == pytest.approx(length / 20, rel=1e-12)  # planar in the lon/lat plane: due south


def test_degrees_and_radians_are_planar_in_longitude_latitude(engine: sa.Engine) -> None:
    a, b = shapely.Point(-3.0, 40.0), shapely.Point(1.0, 43.0)
    units = [UOM + "degree", UOM + "radian", EPSG_UOM + "9102", EPSG_UOM + "9101"]
    with engine.connect() as conn:
        degree, radian, epsg_degree, epsg_radian = (
            distances(conn, [(geometry_param(a), geometry_param(b))], u)[0] for u in units
        )
    assert degree == pytest.approx(5.0, rel=1e-12) and epsg_degree == degree  # a 3-4-5 triangle
    assert radian == pytest.approx(math.radians(5.0), rel=1e-12) and epsg_radian == radian


def test_a_literal_in_another_crs_is_measured_on_wgs84_after_transformation(engine: sa.Engine) -> None:
    """Literals name their CRS; the distance of two points written in EPSG:4326 (latitude first) and in Web
    Mercator metres is the WGS 84 geodesic between the points they denote — not the Mercator plane's metres."""
    lat_lon = "<http://www.opengis.net/def/crs/EPSG/0/4326> POINT(48.85 2.35)"  # Paris, latitude first
    to_mercator = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
    x, y = to_mercator.transform(10.0, 50.0)
    mercator = f"<http://www.opengis.net/def/crs/EPSG/0/3857> POINT({x!r} {y!r})"
    with engine.connect() as conn:
        (metres,) = distances(conn, [(literal_geometry(lat_lon, WKT), literal_geometry(mercator, WKT))], UOM + "metre")
    expected = WGS84.inv(2.35, 48.85, 10.0, 50.0)[2]
    assert metres == pytest.approx(expected, rel=1e-6)
    plane = math.dist((x, y), to_mercator.transform(2.35, 48.85))
    assert plane > 1.4 * metres  # (Mercator's plane stretches by 1/cos(latitude): ~1.5 here)


def test_metre_buffers_reach_the_radius_on_the_ellipsoid_at_every_latitude(engine: sa.Engine) -> None:
    radius = 5_000.0
    for lat in (0.0, 45.0, 70.0, -80.0):
        centre = shapely.Point(30.0, lat)
        expr = call(GEOF + "buffer", geometry_param(centre), radius, UOM + "metre")
        with engine.connect() as conn:
            wkb = conn.execute(sa.select(sa.func.ST_AsBinary(expr))).scalar_one()
        ring = shapely.from_wkb(bytes(wkb)).exterior
        xs, ys = ring.coords.xy
        _, _, reach = WGS84.inv([centre.x] * len(xs), [centre.y] * len(ys), list(xs), list(ys))
        assert max(abs(r - radius) for r in reach) < 0.005 * radius, lat  # (vertices on the circle, to 0.5 %)
