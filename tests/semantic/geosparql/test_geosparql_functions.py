"""GeoSPARQL functions on real PostGIS, against independent computations (shapely, pyproj) and the standard (the
literals' parsing without a database: test_geosparql_literals.py).

The topological relations are evaluated in SQL on pairs of constant geometries (bound parameters) and compared
with shapely's ``relate_pattern`` on the DE-9IM definitions; the definitions themselves are compared with this
file's own transcription of the tables of GeoSPARQL 1.1, "Topology Vocabulary Extension".
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import shapely
import sqlalchemy as sa
from pyproj import Geod
from shapely.geometry.base import BaseGeometry

from esdl_testing.database import server_incarnation
from semantic.errors import UnsupportedFeature
from semantic.geosparql import (
    CRS84,
    FUNCTIONS,
    RELATIONS,
    UNSUPPORTED,
    ArgKind,
    GeoSparqlError,
    InvalidArgument,
    UnsupportedFunction,
    call,
    function,
    geometry_param,
    literal_geometry,
    relate,
)
from semantic.geosparql.literals import (
    GEOMETRY,
    WKT_LITERAL,
    as_geojson,
    as_wkt,
    parse_geojson_literal,
    parse_wkt_literal,
    sql_function,
)
from semantic.geosparql.relations import RELATION_LIST, Relation, requires_intersection
from semantic.store.db import make_engine

GEOF = "http://www.opengis.net/def/function/geosparql/"
GEO = "http://www.opengis.net/ont/geosparql#"
UOM = "http://www.opengis.net/def/uom/OGC/1.0/"
QUDT = "http://qudt.org/vocab/unit/"
GEOD = Geod(ellps="WGS84")

# -- geometry pairs --------------------------------------------------------------------------------------------

SQUARE = "POLYGON((0 0, 4 0, 4 4, 0 4, 0 0))"
PAIRS: dict[str, tuple[str, str]] = {
    # surfaces
    "A=A": (SQUARE, SQUARE),
    "A=A rotated ring": (SQUARE, "POLYGON((4 4, 4 0, 0 0, 0 4, 4 4))"),
    "A disjoint A": (SQUARE, "POLYGON((10 10, 12 10, 12 12, 10 12, 10 10))"),
    "A edge-touch A": (SQUARE, "POLYGON((4 0, 8 0, 8 4, 4 4, 4 0))"),
    "A corner-touch A": (SQUARE, "POLYGON((4 4, 6 4, 6 6, 4 6, 4 4))"),
    "A overlaps A": (SQUARE, "POLYGON((2 2, 6 2, 6 6, 2 6, 2 2))"),
    "A inside A": ("POLYGON((1 1, 2 1, 2 2, 1 2, 1 1))", SQUARE),
    "A covered-by A (shared edges)": ("POLYGON((0 0, 2 0, 2 2, 0 2, 0 0))", SQUARE),
    "A in hole of A": (
        "POLYGON((1 1, 3 1, 3 3, 1 3, 1 1))",
        "POLYGON((0 0, 4 0, 4 4, 0 4, 0 0), (1 1, 3 1, 3 3, 1 3, 1 1))",
    ),
    "A inside hole of A": (
        "POLYGON((1.5 1.5, 2.5 1.5, 2.5 2.5, 1.5 2.5, 1.5 1.5))",
        "POLYGON((0 0, 4 0, 4 4, 0 4, 0 0), (1 1, 3 1, 3 3, 1 3, 1 1))",
    ),
    # curves and surfaces
    "L crosses A": ("LINESTRING(-1 2, 5 2)", SQUARE),
    "L inside A": ("LINESTRING(1 1, 3 3)", SQUARE),
    "L on boundary of A": ("LINESTRING(0 0, 4 0)", SQUARE),
    "L in A touching boundary": ("LINESTRING(0 2, 2 2)", SQUARE),
    "L touches A at end": ("LINESTRING(4 2, 6 2)", SQUARE),
    "L disjoint A": ("LINESTRING(5 5, 6 7)", SQUARE),
    # curves
    "L=L": ("LINESTRING(0 0, 1 1)", "LINESTRING(1 1, 0 0)"),
    "closed L=L": ("LINESTRING(0 0, 1 0, 1 1, 0 0)", "LINESTRING(0 0, 1 0, 1 1, 0 0)"),
    "L crosses L": ("LINESTRING(0 0, 4 4)", "LINESTRING(0 4, 4 0)"),
    "L overlaps L": ("LINESTRING(0 0, 2 0)", "LINESTRING(1 0, 3 0)"),
    "L touches L": ("LINESTRING(0 0, 1 1)", "LINESTRING(1 1, 2 0)"),
    "L within L": ("LINESTRING(1 0, 2 0)", "LINESTRING(0 0, 3 0)"),
    "L within L sharing an end": ("LINESTRING(0 0, 2 0)", "LINESTRING(0 0, 3 0)"),
    "L disjoint L": ("LINESTRING(0 0, 1 0)", "LINESTRING(0 1, 1 1)"),
    # points
    "P=P": ("POINT(1 1)", "POINT(1 1)"),
    "P disjoint P": ("POINT(1 1)", "POINT(2 2)"),
    "P overlaps P": ("MULTIPOINT((0 0), (1 1))", "MULTIPOINT((1 1), (2 2))"),
    "P in A": ("POINT(1 1)", SQUARE),
    "P on boundary of A": ("POINT(0 2)", SQUARE),
    "P crosses A": ("MULTIPOINT((1 1), (10 10))", SQUARE),
    "P in L": ("POINT(1 1)", "LINESTRING(0 0, 2 2)"),
    "P at end of L": ("POINT(0 0)", "LINESTRING(0 0, 2 2)"),
    "P crosses L": ("MULTIPOINT((1 1), (5 0))", "LINESTRING(0 0, 2 2)"),
    "P disjoint L": ("POINT(5 5)", "LINESTRING(0 0, 1 0)"),
}
# every pair both ways round, for the asymmetric relations
ALL_PAIRS: dict[str, tuple[BaseGeometry, BaseGeometry]] = {}
for _label, (_a, _b) in PAIRS.items():
    ALL_PAIRS[_label] = (shapely.from_wkt(_a), shapely.from_wkt(_b))
    ALL_PAIRS[f"{_label} (reversed)"] = (shapely.from_wkt(_b), shapely.from_wkt(_a))

# -- the standard's tables, transcribed independently of semantic.geosparql.relations --------------------------

P, L, A = 0, 1, 2
EVERY = frozenset((i, j) for i in range(3) for j in range(3))
Domain = frozenset[tuple[int, int]]
STANDARD: dict[str, list[tuple[Domain, tuple[str, ...]]]] = {
    "sfEquals": [(EVERY, ("TFFFTFFFT",))],
    "sfDisjoint": [(EVERY, ("FF*FF****",))],
    "sfIntersects": [(EVERY, ("T********", "*T*******", "***T*****", "****T****"))],
    "sfTouches": [(EVERY - {(P, P)}, ("FT*******", "F**T*****", "F***T****"))],
    "sfWithin": [(EVERY, ("T*F**F***",))],
    "sfContains": [(EVERY, ("T*****FF*",))],
    "sfOverlaps": [(frozenset({(A, A), (P, P)}), ("T*T***T**",)), (frozenset({(L, L)}), ("1*T***T**",))],
    "sfCrosses": [(frozenset({(P, L), (P, A), (L, A)}), ("T*T***T**",)), (frozenset({(L, L)}), ("0********",))],
    "ehEquals": [(EVERY, ("TFFFTFFFT",))],
    "ehDisjoint": [(EVERY, ("FF*FF****",))],
    "ehMeet": [(EVERY - {(P, P)}, ("FT*******", "F**T*****", "F***T****"))],
    "ehOverlap": [(EVERY, ("T*T***T**",))],
    "ehCovers": [(frozenset({(A, A), (A, L), (L, L)}), ("T*TFT*FF*",))],
    "ehCoveredBy": [(frozenset({(A, A), (L, A), (L, L)}), ("TFF*TFT**",))],
    "ehInside": [(EVERY, ("TFF*FFT**",))],
    "ehContains": [(EVERY, ("T*TFF*FF*",))],
    "rcc8eq": [(frozenset({(A, A)}), ("TFFFTFFFT",))],
    "rcc8dc": [(frozenset({(A, A)}), ("FFTFFTTTT",))],
    "rcc8ec": [(frozenset({(A, A)}), ("FFTFTTTTT",))],
    "rcc8po": [(frozenset({(A, A)}), ("TTTTTTTTT",))],
    "rcc8tppi": [(frozenset({(A, A)}), ("TTTFTTFFT",))],
    "rcc8tpp": [(frozenset({(A, A)}), ("TFFTTFTTT",))],
    "rcc8ntpp": [(frozenset({(A, A)}), ("TFFTFFTTT",))],
    "rcc8ntppi": [(frozenset({(A, A)}), ("TTTFFTFFT",))],
}
# known differences between the effective definition and the printed table, with the reason (see Relation.note)
DEVIATIONS: dict[str, tuple[Domain, str]] = {
    name: (frozenset({(A, A)}), "printed TFFFTFFFT is false for empty boundaries (points, closed lines)")
    for name in ("sfEquals", "ehEquals")
}


def dims(a: BaseGeometry, b: BaseGeometry) -> tuple[int, int]:
    return int(shapely.get_dimensions(a)), int(shapely.get_dimensions(b))


def by_effective_definition(rel: Relation, a: BaseGeometry, b: BaseGeometry) -> bool:
    return any(shapely.relate_pattern(a, b, p) for p in rel.patterns_for(dims(a, b)))


def by_standard(name: str, a: BaseGeometry, b: BaseGeometry) -> bool | None:
    """The printed definition, ``None`` where the standard does not define the relation for these types."""
    for domain, patterns in STANDARD[name]:
        if dims(a, b) in domain:
            return any(shapely.relate_pattern(a, b, p) for p in patterns)
    return None


# -- helpers ---------------------------------------------------------------------------------------------------


@pytest.fixture
def engine(catalog_engine: sa.Engine) -> sa.Engine:
    return catalog_engine


def select(conn: sa.Connection, **exprs: Any) -> dict[str, Any]:
    """One row of the given expressions."""
    return dict(conn.execute(sa.select(*(e.label(k) for k, e in exprs.items()))).one()._mapping)


def wkb(expr: Any) -> Any:
    return sql_function("ST_AsBinary", expr, type_=sa.LargeBinary())


def shape(value: bytes) -> BaseGeometry:
    return shapely.from_wkb(bytes(value))


def g(wkt: str) -> sa.ColumnElement[Any]:
    return geometry_param(shapely.from_wkt(wkt))


def same_shape(got: BaseGeometry, expected: BaseGeometry) -> bool:
    if got.is_empty or expected.is_empty:
        return got.is_empty and expected.is_empty
    return got.geom_type == expected.geom_type and shapely.hausdorff_distance(got, expected) < 1e-9


# -- relations -------------------------------------------------------------------------------------------------


def test_relation_table_covers_the_three_families_as_functions_and_properties() -> None:
    assert {rel.name for rel in RELATION_LIST} == set(STANDARD)
    for rel in RELATION_LIST:
        assert RELATIONS[GEOF + rel.name] is rel and RELATIONS[GEO + rel.name] is rel
        assert FUNCTIONS[GEOF + rel.name].result == FUNCTIONS[GEO + rel.name].result == "boolean"
        assert FUNCTIONS[GEO + rel.name].is_property and not FUNCTIONS[GEOF + rel.name].is_property
        # the && prefilter: everything but the disjoint relations
        assert rel.prefilter == (rel.name not in ("sfDisjoint", "ehDisjoint", "rcc8dc")), rel.name
        assert rel.prefilter == all(requires_intersection(p) for p in rel.all_patterns)
        assert ("&&" in str(rel.de9im(sa.column("a"), sa.column("b")))) == rel.prefilter


def test_relations_in_postgis_agree_with_their_de9im_definitions_and_the_standard(engine: sa.Engine) -> None:
    seen: dict[str, set[bool]] = {rel.name: set() for rel in RELATION_LIST}
    with engine.connect() as conn:
        for label, (a, b) in ALL_PAIRS.items():
            ga, gb = geometry_param(a), geometry_param(b)
            exprs: dict[str, Any] = {}
            for i, rel in enumerate(RELATION_LIST):
                exprs[f"n{i}"] = rel.sql(ga, gb)
                exprs[f"d{i}"] = rel.de9im(ga, gb)
            row = select(conn, **exprs)
            for i, rel in enumerate(RELATION_LIST):
                expected = by_effective_definition(rel, a, b)
                where = f"{rel.name} on {label}: {a.wkt} / {b.wkt}"
                assert row[f"d{i}"] is expected, f"ST_Relate form, {where}"
                assert row[f"n{i}"] is expected, f"native form {rel.native}, {where}"
                seen[rel.name].add(expected)
                printed = by_standard(rel.name, a, b)
                deviation = DEVIATIONS.get(rel.name)
                if printed is not None and (deviation is None or dims(a, b) in deviation[0]):
                    assert expected is printed, f"effective definition differs from the standard: {where}"
    # every relation is both true and false somewhere among the pairs, so the comparisons above mean something
    assert {name: values for name, values in seen.items() if values != {True, False}} == {}


def test_relations_of_a_null_geometry_are_null(engine: sa.Engine) -> None:
    """An unbound variable's geometry is NULL: every relation is then NULL (a SPARQL error), never false."""
    unbound, square = sa.cast(sa.null(), GEOMETRY), g(SQUARE)
    exprs = {}
    for i, rel in enumerate(RELATION_LIST):
        exprs.update({f"n{i}": rel.sql(unbound, square), f"d{i}": rel.de9im(square, unbound)})
    with engine.connect() as conn:
        assert set(select(conn, **exprs).values()) == {None}


def test_equals_deviation_is_the_documented_one() -> None:
    a = shapely.from_wkt("POINT(1 1)")
    assert by_effective_definition(RELATIONS[GEOF + "sfEquals"], a, a)
    assert by_standard("sfEquals", a, a) is False
    assert "T*F**FFF*" in RELATIONS[GEOF + "sfEquals"].note


def test_relate_function(engine: sa.Engine) -> None:
    a, b = g("POLYGON((0 0, 2 0, 2 2, 0 2, 0 0))"), g("POINT(1 1)")
    with engine.connect() as conn:
        row = select(
            conn,
            contains=relate(a, b, "t*****ff*"),
            not_disjoint=relate(a, b, "FF*FF****"),
            matrix_from_sql=relate(a, b, sa.literal("0f2ff1").op("||")(sa.literal("ff2"))),
            false_from_sql=relate(a, b, sa.literal("F********")),
            bad_from_sql=relate(a, b, sa.literal("TTT")),
        )
    expected = {"contains": True, "not_disjoint": False, "matrix_from_sql": True, "false_from_sql": False}
    assert row == {**expected, "bad_from_sql": None}
    assert "&&" in str(relate(sa.column("a"), sa.column("b"), "T********"))
    assert "&&" not in str(relate(sa.column("a"), sa.column("b"), "FF*FF****"))
    for bad in ("TTTTTTTT", "TTTTTTTTTT", "TTTTXTTTT"):
        with pytest.raises(InvalidArgument, match="DE-9IM"):
            relate(a, b, bad)


def test_prefilter_is_an_index_condition(engine: sa.Engine) -> None:
    """The "index-friendly SQL" requirement: the GiST index serves ST_Relate-based and native relations."""
    points = sa.table("pts", sa.column("id"), sa.column("geom"))
    boxes = sa.table("boxes", sa.column("id"), sa.column("geom"))
    window = g("POLYGON((10 10, 11 10, 11 11, 10 11, 10 10))")
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT setseed(0.25)"))
        conn.execute(
            sa.text(
                "CREATE TEMP TABLE pts AS SELECT i AS id, "
                "ST_SetSRID(ST_MakePoint(random() * 360 - 180, random() * 180 - 90), 4326) AS geom "
                "FROM generate_series(1, 10000) AS i"
            )
        )
        conn.execute(
            sa.text(
                "CREATE TEMP TABLE boxes AS SELECT i AS id, "
                "ST_MakeEnvelope(i * 3, i, i * 3 + 1, i + 1, 4326) AS geom FROM generate_series(1, 20) AS i"
            )
        )
        conn.execute(sa.text("CREATE INDEX pts_geom ON pts USING gist (geom)"))
        conn.execute(sa.text("ANALYZE pts"))
        conn.execute(sa.text("ANALYZE boxes"))

        def plan(query: sa.Select[Any]) -> str:
            compiled = query.compile(conn, compile_kwargs={"literal_binds": True})
            return "\n".join(r[0] for r in conn.execute(sa.text(f"EXPLAIN {compiled}")))

        # ST_Relate-based relations carry their own `&&`; for native predicates PostGIS's support functions add
        # the index condition (`&&`, or the tighter `@` / `~` for within / contains)
        for name, operator in [("rcc8ntpp", "&&"), ("ehInside", "&&"), ("ehCoveredBy", "&&"), ("sfWithin", "@")]:
            rel = RELATIONS[GEOF + name]
            filtered = plan(sa.select(sa.func.count()).select_from(points).where(rel.sql(points.c.geom, window)))
            assert f"Index Cond: (geom {operator} " in filtered, f"{name}:\n{filtered}"
            joined = plan(
                sa.select(boxes.c.id, points.c.id).select_from(boxes).join(points, rel.sql(points.c.geom, boxes.c.geom))
            )
            assert "Index Cond" in joined and operator in joined, f"{name} join:\n{joined}"
        # and the index does not change the answer
        inside = conn.execute(
            sa.select(sa.func.count()).select_from(points).where(RELATIONS[GEO + "ehInside"].sql(points.c.geom, window))
        ).scalar_one()
        by_box = conn.execute(
            sa.text("SELECT count(*) FROM pts WHERE ST_X(geom) BETWEEN 10 AND 11 AND ST_Y(geom) BETWEEN 10 AND 11")
        ).scalar_one()
        assert inside == by_box


# -- literals in SQL -------------------------------------------------------------------------------------------


def test_constant_literals_are_bound_parameters_and_round_trip(engine: sa.Engine) -> None:
    expr = literal_geometry("<http://www.opengis.net/def/crs/EPSG/0/4326> POINT(33.95 -83.38)", WKT_LITERAL)
    text = str(expr.compile(dialect=engine.dialect))
    assert "ST_GeomFromEWKB(%(" in text and "POINT" not in text and "33.95" not in text
    polygon = "POLYGON((0.1 0.2, 4.123456789012345 0, 4 4, 0 4, 0.1 0.2))"
    with engine.connect() as conn:
        row = select(
            conn,
            point=as_wkt(expr),
            srid=sql_function("ST_SRID", expr, type_=sa.Integer()),
            wkt=as_wkt(g(polygon)),
            geojson=as_geojson(g(polygon)),
            empty=as_wkt(literal_geometry("", WKT_LITERAL)),
        )
    assert row["srid"] == 4326
    assert shapely.from_wkt(row["point"]).equals(shapely.Point(-83.38, 33.95))
    # the renderings are literals that read back to the same geometry, exactly
    assert parse_wkt_literal(row["wkt"]).geometry.equals_exact(shapely.from_wkt(polygon), 0)
    assert parse_geojson_literal(row["geojson"]).geometry.equals_exact(shapely.from_wkt(polygon), 0)
    assert parse_wkt_literal(row["empty"]).geometry.is_empty


# -- non-topological functions ---------------------------------------------------------------------------------


def test_distance_in_metres_degrees_and_radians(engine: sa.Engine) -> None:
    athens, paris = shapely.Point(-83.38, 33.95), shapely.Point(2.35, 48.85)
    a, b = geometry_param(athens), geometry_param(paris)
    square, line = g(SQUARE), g("LINESTRING(6 1, 7 9)")
    with engine.connect() as conn:
        row = select(
            conn,
            metre=call(GEOF + "distance", a, b, UOM + "metre"),
            qudt_m=call(GEOF + "distance", a, b, QUDT + "M"),
            km=call(GEOF + "distance", a, b, QUDT + "KiloM"),
            metric=call(GEOF + "metricDistance", a, b),
            degree=call(GEOF + "distance", a, b, UOM + "degree"),
            radian=call(GEOF + "distance", a, b, UOM + "radian"),
            qudt_rad=call(GEOF + "distance", a, b, QUDT + "RAD"),
            shapes=call(GEOF + "distance", square, line, UOM + "degree"),
            touching=call(GEOF + "distance", square, g("POINT(4 4)"), UOM + "metre"),
        )
    _, _, geodesic = GEOD.inv(athens.x, athens.y, paris.x, paris.y)
    assert row["metre"] == pytest.approx(geodesic, rel=1e-6)
    assert row["qudt_m"] == row["metre"] == row["metric"]
    assert row["km"] == pytest.approx(geodesic / 1000, rel=1e-6)
    degrees = athens.distance(paris)
    assert row["degree"] == pytest.approx(degrees, rel=1e-15)
    assert row["radian"] == pytest.approx(degrees * math.pi / 180, rel=1e-15)
    assert row["qudt_rad"] == row["radian"]
    assert row["shapes"] == pytest.approx(shapely.from_wkt(SQUARE).distance(shapely.from_wkt("LINESTRING(6 1, 7 9)")))
    assert row["touching"] == 0


def test_buffer_in_metres_and_degrees(engine: sa.Engine) -> None:
    centre = shapely.Point(10.0, 50.0)
    radius = 1000.0
    with engine.connect() as conn:
        metric = call(GEOF + "buffer", geometry_param(centre), radius, UOM + "metre")
        planar = call(GEOF + "buffer", geometry_param(centre), sa.literal(0.5), UOM + "degree")
        row = select(
            conn,
            metric=wkb(metric),
            srid=sql_function("ST_SRID", metric, type_=sa.Integer()),
            kilometre=wkb(call(GEOF + "buffer", geometry_param(centre), 1, QUDT + "KiloM")),
            planar=wkb(planar),
            metric_fn=wkb(call(GEOF + "metricBuffer", geometry_param(centre), radius)),
        )
    disc = shape(row["metric"])
    assert row["srid"] == 4326 and disc.geom_type == "Polygon"
    # every vertex lies ~1 km from the centre on the ellipsoid (PostGIS buffers in a local projection)
    xs, ys = disc.exterior.coords.xy
    _, _, distances = GEOD.inv([centre.x] * len(xs), [centre.y] * len(ys), list(xs), list(ys))
    assert max(abs(d - radius) for d in distances) < 1.0
    # the area is that of the 32-gon inscribed in the circle (8 segments per quarter)
    polygon_area = 16 * radius**2 * math.sin(math.pi / 16)
    assert abs(GEOD.geometry_area_perimeter(disc)[0]) == pytest.approx(polygon_area, rel=5e-3)
    assert same_shape(shape(row["kilometre"]), disc) and same_shape(shape(row["metric_fn"]), disc)
    # planar, 8 segments per quarter circle like PostGIS
    assert same_shape(shape(row["planar"]), centre.buffer(0.5, quad_segs=8))
    assert shape(row["planar"]).area == pytest.approx(centre.buffer(0.5, quad_segs=8).area, rel=1e-12)


def test_geometry_functions_agree_with_shapely(engine: sa.Engine) -> None:
    a = shapely.from_wkt("POLYGON((0 0, 4 0, 4 4, 0 4, 0 0), (1 1, 2 1, 2 2, 1 2, 1 1))")
    b = shapely.from_wkt("POLYGON((2 -1, 6 -1, 6 3, 2 3, 2 -1))")
    line = shapely.from_wkt("LINESTRING(0 0, 3 1, 1 5)")
    multi = shapely.from_wkt("MULTIPOINT((0 0), (3 1), (1 5), (2 2))")
    ga, gb, gl, gm = (geometry_param(x) for x in (a, b, line, multi))
    expected = {
        "envelope": (call(GEOF + "envelope", gl), line.envelope),
        "convexHull": (call(GEOF + "convexHull", gm), multi.convex_hull),
        "intersection": (call(GEOF + "intersection", ga, gb), a.intersection(b)),
        "union": (call(GEOF + "union", ga, gb), a.union(b)),
        "difference": (call(GEOF + "difference", ga, gb), a.difference(b)),
        "symDifference": (call(GEOF + "symDifference", ga, gb), a.symmetric_difference(b)),
        "boundary": (call(GEOF + "boundary", ga), a.boundary),
        "line boundary": (call(GEOF + "boundary", gl), line.boundary),
        "centroid": (call(GEOF + "centroid", ga), a.centroid),
        "geometryN": (call(GEOF + "geometryN", gm, 2), multi.geoms[1]),
        "geometryN from SQL": (call(GEOF + "geometryN", gm, sa.literal(4)), multi.geoms[3]),
    }
    with engine.connect() as conn:
        row = select(conn, **{k: wkb(e) for k, (e, _) in expected.items()})
    for name, (_, want) in expected.items():
        got = shape(row[name])
        assert shapely.equals(got, want) and same_shape(got, want), f"{name}: {got.wkt} != {want.wkt}"


def test_measures_and_properties(engine: sa.Engine) -> None:
    square = shapely.from_wkt("POLYGON((10 50, 11 50, 11 51, 10 51, 10 50))")
    line = shapely.from_wkt("LINESTRING(10 50, 11 51, 12 50)")
    gs, gl = geometry_param(square), geometry_param(line)
    z = sql_function("ST_GeomFromText", "POINT Z (1 2 3)", 4326)
    m = sql_function("ST_GeomFromText", "POINT M (1 2 3)", 4326)
    zm = sql_function("ST_GeomFromText", "POINT ZM (1 2 3 4)", 4326)
    bowtie = sql_function("ST_GeomFromText", "LINESTRING(0 0, 2 2, 2 0, 0 2)", 4326)
    multi = g("MULTIPOLYGON(((0 0, 1 0, 1 1, 0 0)), ((5 5, 6 5, 6 6, 5 5)))")
    empty = g("GEOMETRYCOLLECTION EMPTY")
    with engine.connect() as conn:
        row = select(
            conn,
            area=call(GEOF + "area", gs),
            area_km2=call(GEOF + "area", gs, QUDT + "KiloM"),
            area_deg2=call(GEOF + "area", gs, UOM + "degree"),
            metric_area=call(GEOF + "metricArea", gs),
            length=call(GEOF + "length", gl),
            length_deg=call(GEOF + "length", gl, UOM + "degree"),
            perimeter=call(GEOF + "perimeter", gs),
            min_x=call(GEOF + "minX", gl),
            max_x=call(GEOF + "maxX", gl),
            min_y=call(GEOF + "minY", gl),
            max_y=call(GEOF + "maxY", gl),
            min_z_2d=call(GEOF + "minZ", gl),
            max_z=call(GEOF + "maxZ", z),
            num=call(GEOF + "numGeometries", multi),
            num_single=call(GEOF + "numGeometries", gs),
            srid=call(GEOF + "getSRID", gs),
            srid_null=call(GEOF + "getSRID", sa.null()),
            dim_polygon=call(GEO + "dimension", gs),
            dim_line=call(GEOF + "dimension", gl),
            dim_point=call(GEO + "dimension", z),
            coord_2d=call(GEO + "coordinateDimension", gs),
            coord_z=call(GEO + "coordinateDimension", z),
            coord_m=call(GEO + "coordinateDimension", m),
            coord_zm=call(GEO + "coordinateDimension", zm),
            spatial_2d=call(GEO + "spatialDimension", gs),
            spatial_z=call(GEO + "spatialDimension", z),
            spatial_m=call(GEO + "spatialDimension", m),
            spatial_zm=call(GEO + "spatialDimension", zm),
            empty=call(GEO + "isEmpty", empty),
            not_empty=call(GEOF + "isEmpty", gs),
            simple=call(GEO + "isSimple", gl),
            not_simple=call(GEOF + "isSimple", bowtie),
            wkt=call(GEO + "asWKT", gs),
            serialization=call(GEO + "hasSerialization", gs),
            geojson=call(GEOF + "asGeoJSON", gs),
        )
    geodesic_area = abs(GEOD.geometry_area_perimeter(square)[0])
    assert row["area"] == pytest.approx(geodesic_area, rel=1e-6) and row["metric_area"] == row["area"]
    assert row["area_km2"] == pytest.approx(geodesic_area / 1e6, rel=1e-6)
    assert row["area_deg2"] == pytest.approx(square.area, rel=1e-12)
    assert row["length"] == pytest.approx(GEOD.geometry_length(line), rel=1e-6)
    assert row["length_deg"] == pytest.approx(line.length, rel=1e-12)
    assert row["perimeter"] == pytest.approx(GEOD.geometry_area_perimeter(square)[1], rel=1e-6)
    assert (row["min_x"], row["min_y"], row["max_x"], row["max_y"]) == line.bounds
    assert row["min_z_2d"] is None and row["max_z"] == 3
    assert (row["num"], row["num_single"]) == (2, 1)
    assert row["srid"] == CRS84 and row["srid_null"] is None
    assert (row["dim_polygon"], row["dim_line"], row["dim_point"]) == (2, 1, 0)
    assert (row["coord_2d"], row["coord_z"], row["coord_m"], row["coord_zm"]) == (2, 3, 3, 4)
    assert (row["spatial_2d"], row["spatial_z"], row["spatial_m"], row["spatial_zm"]) == (2, 3, 2, 3)
    assert (row["empty"], row["not_empty"], row["simple"], row["not_simple"]) == (True, False, True, False)
    assert parse_wkt_literal(row["wkt"]).geometry.equals(square) and row["serialization"] == row["wkt"]
    assert parse_geojson_literal(row["geojson"]).geometry.equals(square)


# -- the registry ----------------------------------------------------------------------------------------------

SAMPLE_GEOMETRIES = (
    shapely.from_wkt("POLYGON((0 0, 1 0, 1 1, 0 1, 0 0))"),
    shapely.from_wkt("POLYGON((0.5 0.5, 2 0.5, 2 2, 0.5 2, 0.5 0.5))"),
)
SAMPLE_ARGS: dict[ArgKind, Any] = {
    ArgKind.NUMBER: 0.5,
    ArgKind.INTEGER: 1,
    ArgKind.UNITS: UOM + "metre",
    ArgKind.PATTERN: "T********",
}


def test_every_registered_function_runs_in_postgis(engine: sa.Engine) -> None:
    exprs = {}
    for i, (iri, spec) in enumerate(FUNCTIONS.items()):
        geometries = iter(SAMPLE_GEOMETRIES)
        expr = spec(*(next(geometries) if kind is ArgKind.GEOMETRY else SAMPLE_ARGS[kind] for kind in spec.args))
        exprs[f"f{i}"] = wkb(expr) if spec.result == "geometry" else expr
        assert iri not in UNSUPPORTED
    with engine.connect() as conn:
        row = select(conn, **exprs)
    kinds = {"boolean": bool, "double": float, "integer": int, "iri": str, "wkt": str, "geojson": str, "gml": str}
    for i, spec in enumerate(FUNCTIONS.values()):
        value = row[f"f{i}"]
        if spec.iri.endswith(("minZ", "maxZ")):
            assert value is None, spec.iri  # a 2D geometry has no Z
        elif spec.result == "geometry":
            assert not shape(value).is_empty, spec.iri
        else:
            assert isinstance(value, kinds[spec.result]), spec.iri


def test_unsupported_and_bad_calls_raise_named_errors() -> None:
    with pytest.raises(UnsupportedFunction, match="CRS84") as info:
        function(GEOF + "transform")
    assert isinstance(info.value, UnsupportedFeature) and isinstance(info.value, GeoSparqlError)
    with pytest.raises(UnsupportedFunction, match="aggregate"):
        call(GEOF + "aggUnion", sa.column("g"))
    with pytest.raises(UnsupportedFunction):
        function("http://example.org/noSuchFunction")
    with pytest.raises(InvalidArgument, match="takes 3 arguments"):
        call(GEOF + "distance", sa.column("a"), sa.column("b"))
    with pytest.raises(InvalidArgument, match="takes 1 to 2 arguments"):
        call(GEOF + "area", sa.column("a"), UOM + "metre", 3)
    with pytest.raises(InvalidArgument, match="unsupported units"):
        call(GEOF + "distance", sa.column("a"), sa.column("b"), "http://example.org/furlong")
    with pytest.raises(InvalidArgument, match="constant IRI"):
        call(GEOF + "buffer", sa.column("a"), 1.0, sa.column("units"))
    with pytest.raises(InvalidArgument, match="expected a number"):
        call(GEOF + "buffer", sa.column("a"), "1", UOM + "metre")
    with pytest.raises(InvalidArgument, match="geometry argument"):
        call(GEOF + "envelope", "POINT(1 2)")
    with pytest.raises(InvalidArgument, match="integer"):
        call(GEOF + "geometryN", sa.column("a"), 1.5)


HOSTILE_RADII = ['"NaN"^^xsd:double', '"INF"^^xsd:double', '"-INF"^^xsd:double', "1e308", "-1e308", "1e9", "2e7"]


def test_out_of_domain_buffer_radii_are_expression_errors(catalog_url: str) -> None:
    """NaN, infinite and huge radii, written or computed in SQL, never reach GEOS (a NaN radius crashed the
    backend and sent the whole cluster through recovery): unbound in BIND, false in FILTER, and the postmaster
    is the same one afterwards. Radii in range still buffer."""
    from semantic.sparql.engine import SparqlEngine

    eng = make_engine(catalog_url)
    sparql = SparqlEngine(eng, virtual=False)
    prefixes = (
        "PREFIX geo: <http://www.opengis.net/ont/geosparql#> PREFIX geof: <http://www.opengis.net/def/function/"
        "geosparql/> PREFIX uom: <http://www.opengis.net/def/uom/OGC/1.0/> "
        "PREFIX xsd: <http://www.w3.org/2001/XMLSchema#>\n"
    )
    point = '"POINT(10 50)"^^geo:wktLiteral'
    with eng.connect() as conn:
        started = server_incarnation(conn)
    for radius in [*HOSTILE_RADII, "1e154 * 1e154", "0e0 / 0e0"]:
        for units, name in (("uom:metre", "buffer"), ("uom:degree", "buffer"), ("", "metricBuffer")):
            args = f"{point}, ?r" + (f", {units}" if units else "")
            bound = sparql.query(
                prefixes + f"SELECT ?r ?b WHERE {{ BIND(({radius}) AS ?r) BIND(geof:{name}({args}) AS ?b) }}"
            ).rows
            assert len(bound) == 1 and bound[0].get("b") is None, (radius, units, name)
            kept = sparql.query(
                prefixes + f"SELECT ?r WHERE {{ BIND(({radius}) AS ?r) FILTER(geof:sfIntersects(geof:{name}"
                f"({args}), {point})) }}"
            ).rows
            assert kept == [], (radius, units, name)
    fine = sparql.query(prefixes + f"SELECT ?b WHERE {{ BIND(geof:buffer({point}, 9e6, uom:metre) AS ?b) }}").rows
    assert fine[0].get("b") is not None
    with eng.connect() as conn:
        assert server_incarnation(conn) == started  # no restart, no crash recovery
    eng.dispose()
