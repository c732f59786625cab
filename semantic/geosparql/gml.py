"""geo:gmlLiteral: GML geometries read into longitude/latitude geometries (GeoSPARQL 1.0 Req 15-17).

The GML profile read here (Req 17, /req/geometry-extension/gml-profile; docs/sparql.md, "GML"): the linear
geometries of GML 3.2, 3.1 and 2 (``Point``, ``LineString``, ``LinearRing``, ``Polygon`` with GML 3 or GML 2
boundaries, ``Curve`` of ``LineStringSegment``s, ``Surface`` of ``PolygonPatch``es, ``Envelope``, ``Box``, the
``Multi*`` types and ``MultiGeometry``), coordinates as ``pos``, ``posList``, ``coordinates`` and ``coord``, in
any GML namespace (GeoSPARQL's own examples write ``http://www.opengis.net/ont/gml``). ``srsName`` is inherited:
none is CRS84; the URN and URL forms of an EPSG CRS follow the axis order the CRS defines (EPSG:4326 is
latitude/longitude); the legacy ``EPSG:4326`` and ``.../gml/srs/epsg.xml#4326`` forms are longitude/latitude
(easting first) whatever the CRS defines, as the software that writes them (GML 2, WFS 1.0, PostGIS, GDAL) does.

Curved segments (arcs, circles, splines) have no straight-edge representation in GEOS and are an error, as are
solids, composites and xlink references. The XML is parsed without DTDs (so without entity expansion or
external entities) and without network access, and a literal over :data:`MAX_GML_CHARS` characters or nested
deeper than :data:`MAX_GML_DEPTH` elements is refused before it is read.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass

import defusedxml
import defusedxml.ElementTree as SafeET
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from semantic.geosparql.errors import InvalidGeometryLiteral
from semantic.geosparql.geometry import CRS84, GeometryValue, checked, short, transform_for

MAX_GML_CHARS = 4_000_000
"""The longest gmlLiteral read (characters): about 150,000 vertices in a ``posList``."""
MAX_GML_DEPTH = 32
"""The deepest element nesting read; real geometries need fewer than ten levels."""

GML_32 = "http://www.opengis.net/gml/3.2"
_GML_NAMESPACE = re.compile(r"https?://(?:www\.)?opengis\.net/(?:ont/)?gml(?:/[0-9][0-9.]*)?/?")
_UNDECLARED_PREFIX = re.compile(r"\A(\s*(?:<\?xml[^>]*\?>\s*)?<gml:[A-Za-z]+)")

# srsName patterns, written so that PostgreSQL reads them too (semantic/sparql/geo.py: geof:getSRID in SQL)
CRS84_SRS_NAME = (
    r"^(?:https?://www\.opengis\.net/def/crs/OGC/(?:1\.3|0)/CRS84|urn:ogc:def:crs:OGC:(?:1\.3)?:CRS84"
    r"|urn:ogc:def:crs:OGC:2:84)$"
)
"""An ``srsName`` of OGC CRS84."""
EPSG_SRS_NAME = (
    r"^(?:urn:(?:x-)?ogc:def:crs:EPSG:(?:[0-9.]*:)?|https?://www\.opengis\.net/def/crs/EPSG/0/|EPSG:"
    r"|https?://www\.opengis\.net/gml/srs/epsg\.xml#)([0-9]+)$"
)
"""An ``srsName`` of an EPSG CRS; group 1 is the code."""
_XY_FORMS = re.compile(r"EPSG:|https?://www\.opengis\.net/gml/srs/epsg\.xml#")

_CURVED = frozenset(
    "Arc ArcString ArcByBulge ArcStringByBulge ArcByCenterPoint CircleByCenterPoint Circle Clothoid CubicSpline "
    "BSpline Bezier OffsetCurve GeodesicString Geodesic".split()
)


@dataclass(frozen=True)
class _Context:
    """What an element inherits from its ancestors: the CRS of its coordinates and their dimension."""

    transform: Callable[[np.ndarray], np.ndarray] | None
    dimension: int | None  # srsDimension, None: not given


def _crs(srs_name: str) -> tuple[str, Callable[[np.ndarray], np.ndarray] | None]:
    """The CRS IRI an ``srsName`` stands for and the transform of its coordinates to longitude/latitude."""
    name = srs_name.strip()
    if re.match(CRS84_SRS_NAME, name):
        return CRS84, None
    if m := re.match(EPSG_SRS_NAME, name):
        iri = f"http://www.opengis.net/def/crs/EPSG/0/{m[1]}"
        # the legacy forms are easting/longitude first whatever the CRS defines (the module's docstring)
        return iri, transform_for(iri, xy=_XY_FORMS.match(name) is not None)
    raise InvalidGeometryLiteral(
        f"unsupported srsName {name!r}: use an EPSG URN (urn:ogc:def:crs:EPSG::4326), an EPSG IRI or EPSG:<code>"
    )


class _Reader:
    """Reads the geometry elements of one parsed literal (every element in one GML namespace)."""

    def __init__(self, namespace: str, what: str) -> None:
        self.ns = namespace
        self.what = what

    def fail(self, message: str) -> InvalidGeometryLiteral:
        return InvalidGeometryLiteral(f"{self.what}: {message}")

    def name(self, elem: ET.Element) -> str:
        """The local name of a GML element; an element of another namespace is an error."""
        ns, _, local = elem.tag[1:].partition("}") if elem.tag.startswith("{") else ("", "", elem.tag)
        if ns != self.ns:
            raise self.fail(f"element <{local}> is not in the GML namespace {self.ns!r} (namespace {ns!r})")
        return local

    def children(self, elem: ET.Element, *names: str) -> list[ET.Element]:
        return [c for c in elem if self.name(c) in names]

    def context(self, elem: ET.Element, ctx: _Context) -> _Context:
        srs = elem.get("srsName")
        try:
            transform = ctx.transform if srs is None else _crs(srs)[1]
        except InvalidGeometryLiteral as err:
            raise self.fail(str(err)) from None
        dim = elem.get("srsDimension")
        return _Context(transform, ctx.dimension if dim is None else self.dimension(dim))

    def dimension(self, text: str) -> int:
        if not text.strip().isdigit() or not 1 <= int(text) <= 4:
            raise self.fail(f"srsDimension {text!r} is not 1 to 4")
        return int(text)

    # -- coordinates -------------------------------------------------------------------------------------------

    def numbers(self, text: str | None, where: str) -> np.ndarray:
        try:
            return np.array((text or "").split(), dtype=float)
        except ValueError:
            raise self.fail(f"<{where}> holds something that is not a number: {short(text or '')}") from None

    def pos(self, elem: ET.Element) -> np.ndarray:
        values = self.numbers(elem.text, "pos")
        if len(values) < 2:
            raise self.fail(f"<pos> needs at least two coordinates, got {len(values)}")
        return values[:2]

    def pos_list(self, elem: ET.Element, ctx: _Context) -> np.ndarray:
        values = self.numbers(elem.text, "posList")
        dim = self.dimension(elem.get("srsDimension", "")) if elem.get("srsDimension") else ctx.dimension or 2
        if dim < 2 or len(values) % dim:
            raise self.fail(f"<posList> holds {len(values)} numbers, not a multiple of its dimension {dim}")
        coords = values.reshape(-1, dim)[:, :2]
        count = elem.get("count")
        if count is not None and (not count.strip().isdigit() or int(count) != len(coords)):
            raise self.fail(f"<posList count={count!r}> holds {len(coords)} positions")
        return coords

    def coordinates(self, elem: ET.Element) -> np.ndarray:
        """GML 2's ``<coordinates>``: tuples separated by ``ts``, coordinates by ``cs``, decimal point ``decimal``."""
        decimal, cs, ts = elem.get("decimal", "."), elem.get("cs", ","), elem.get("ts", " ")
        text = (elem.text or "").strip()
        if decimal != ".":
            text = text.replace(".", "\0").replace(decimal, ".")
        tuples = [t for t in (text.split() if ts.isspace() else text.split(ts)) if t.strip()]
        rows = [self.numbers(" ".join(t.split(cs)), "coordinates") for t in tuples]
        if any(len(r) < 2 for r in rows):
            raise self.fail(f"<coordinates> has a tuple of fewer than two coordinates: {short(text)}")
        return np.array([r[:2] for r in rows], dtype=float).reshape(-1, 2)

    def coord(self, elem: ET.Element) -> np.ndarray:
        xs = self.children(elem, "X")
        ys = self.children(elem, "Y")
        if len(xs) != 1 or len(ys) != 1:
            raise self.fail("<coord> needs one <X> and one <Y>")
        return np.array([self.numbers(xs[0].text, "X")[:1], self.numbers(ys[0].text, "Y")[:1]]).reshape(2)

    def points(self, elem: ET.Element, ctx: _Context) -> np.ndarray:
        """The positions an element lists, in its CRS's axis order; shape (n, 2)."""
        rows: list[np.ndarray] = []
        for child in elem:
            name = self.name(child)
            if name == "posList":
                rows.extend(self.pos_list(child, self.context(child, ctx)))
            elif name == "pos":
                rows.append(self.pos(child))
            elif name == "coordinates":
                rows.extend(self.coordinates(child))
            elif name == "coord":
                rows.append(self.coord(child))
            elif name in ("pointProperty", "pointRep"):
                point = self.only(child, "a <Point>")
                if self.name(point) != "Point":
                    raise self.fail(f"<{name}> holds <{self.name(point)}>, not a <Point>")
                rows.extend(self.points(point, self.context(point, ctx)))
        return np.array(rows, dtype=float).reshape(-1, 2)

    def lon_lat(self, coords: np.ndarray, ctx: _Context) -> np.ndarray:
        return coords if ctx.transform is None or not len(coords) else ctx.transform(coords)

    # -- geometries ----------------------------------------------------------------------------------------------

    def only(self, prop: ET.Element, what: str) -> ET.Element:
        """The one geometry element inside a property element (``pointMember``, ``exterior``, ...)."""
        if any(k.endswith("}href") or k == "href" for k in prop.attrib):
            raise self.fail(f"<{self.name(prop)}> refers to its geometry by xlink:href, which is not resolved")
        members = list(prop)
        if len(members) != 1:
            raise self.fail(f"<{self.name(prop)}> must hold {what}, holds {len(members)} elements")
        return members[0]

    def geometry(self, elem: ET.Element, ctx: _Context) -> BaseGeometry:
        name = self.name(elem)
        ctx = self.context(elem, ctx)
        read = _READERS.get(name)
        if read is not None:
            return read(self, elem, ctx)
        if name in _CURVED:
            raise self.fail(f"<{name}> is a curve GEOS cannot represent (straight line segments only)")
        raise self.fail(f"<{name}> is not a GML geometry read here (see docs/sparql.md, the GML profile)")

    def point(self, elem: ET.Element, ctx: _Context) -> BaseGeometry:
        coords = self.lon_lat(self.points(elem, ctx), ctx)
        if len(coords) > 1:
            raise self.fail(f"<Point> has {len(coords)} positions")
        return shapely.Point(coords[0]) if len(coords) else shapely.Point()

    def line(self, elem: ET.Element, ctx: _Context) -> BaseGeometry:
        coords = self.lon_lat(self.points(elem, ctx), ctx)
        if len(coords) == 1:
            raise self.fail(f"<{self.name(elem)}> has one position; a line needs two or more")
        return shapely.LineString(coords) if len(coords) else shapely.LineString()

    def curve(self, elem: ET.Element, ctx: _Context) -> BaseGeometry:
        """A ``Curve``: its straight segments joined into one line."""
        parts: list[np.ndarray] = []
        for segments in self.children(elem, "segments"):
            for segment in segments:
                seg = self.name(segment)
                if seg != "LineStringSegment":
                    raise self.fail(f"<{seg}> is a curve segment GEOS cannot represent (straight segments only)")
                sctx = self.context(segment, ctx)
                coords = self.lon_lat(self.points(segment, sctx), sctx)
                parts.append(coords if not parts or not len(coords) else coords[1:])
        coords = np.concatenate(parts) if parts else np.empty((0, 2))
        if len(coords) == 1:
            raise self.fail("<Curve> has one position; a line needs two or more")
        return shapely.LineString(coords) if len(coords) else shapely.LineString()

    def ring(self, prop: ET.Element, ctx: _Context) -> np.ndarray:
        ring = self.only(prop, "a <LinearRing> or <Ring>")
        rctx = self.context(ring, ctx)
        if self.name(ring) == "LinearRing":
            coords = self.lon_lat(self.points(ring, rctx), rctx)
        elif self.name(ring) == "Ring":
            curves = [self.geometry(self.only(m, "a curve"), rctx) for m in self.children(ring, "curveMember")]
            if any(c.geom_type != "LineString" for c in curves):
                raise self.fail("a <Ring>'s <curveMember>s must be curves")
            parts = [shapely.get_coordinates(c)[1 if i else 0 :] for i, c in enumerate(curves)]  # joints once
            coords = np.concatenate(parts) if parts else np.empty((0, 2))
        else:
            raise self.fail(f"<{self.name(prop)}> holds <{self.name(ring)}>, not a <LinearRing>")
        if len(coords) < 4 or not np.array_equal(coords[0], coords[-1]):
            raise self.fail(f"a ring needs four or more positions, the last equal to the first ({len(coords)} given)")
        return coords

    def polygon(self, elem: ET.Element, ctx: _Context) -> BaseGeometry:
        outer = self.children(elem, "exterior", "outerBoundaryIs")
        inner = self.children(elem, "interior", "innerBoundaryIs")
        if not outer:
            if inner:
                raise self.fail(f"<{self.name(elem)}> has interior rings and no exterior")
            return shapely.Polygon()
        if len(outer) > 1:
            raise self.fail(f"<{self.name(elem)}> has {len(outer)} exterior rings")
        return shapely.Polygon(self.ring(outer[0], ctx), [self.ring(r, ctx) for r in inner])

    def surface(self, elem: ET.Element, ctx: _Context) -> BaseGeometry:
        """A ``Surface``: the union of its polygon patches."""
        patches: list[BaseGeometry] = []
        for container in self.children(elem, "patches"):
            for patch in container:
                if self.name(patch) not in ("PolygonPatch", "Triangle", "Rectangle"):
                    raise self.fail(f"<{self.name(patch)}> is a surface patch GEOS cannot represent")
                patches.append(self.polygon(patch, self.context(patch, ctx)))
        if len(patches) == 1:
            return patches[0]
        # adjacent patches share edges: as a MultiPolygon they would be invalid, as a union they are the surface
        return shapely.union_all(patches) if patches else shapely.Polygon()

    def envelope(self, elem: ET.Element, ctx: _Context) -> BaseGeometry:
        """``Envelope`` (``lowerCorner``/``upperCorner``, or two ``pos``) and GML 2's ``Box``: the box they span,
        its corners transformed one by one (as a polygon's vertices)."""
        corners = [self.pos(c) for c in self.children(elem, "lowerCorner", "upperCorner")]
        coords = np.array(corners).reshape(-1, 2) if corners else self.points(elem, ctx)
        if len(coords) != 2:
            raise self.fail(f"<{self.name(elem)}> needs two corners, has {len(coords)}")
        (x0, y0), (x1, y1) = coords
        if x0 > x1 or y0 > y1:
            raise self.fail(f"<{self.name(elem)}>: the lower corner is above the upper corner")
        box = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]])
        box = self.lon_lat(box, ctx)
        if x0 == x1 and y0 == y1:
            return shapely.Point(box[0])
        if x0 == x1 or y0 == y1:  # a degenerate box is the segment between its corners
            return shapely.LineString([box[0], box[2]])
        return shapely.Polygon(box)


def _multi(
    one: tuple[str, ...], many: str, build: Callable[[list[BaseGeometry]], BaseGeometry], parts: str | None
) -> Callable[[_Reader, ET.Element, _Context], BaseGeometry]:
    """A reader of a multi-geometry: its members (``one`` per property, or ``many`` in one ``...Members``),
    each of the ``parts`` type (``None``: any geometry), non-empty ones collected by ``build``."""

    def read(reader: _Reader, elem: ET.Element, ctx: _Context) -> BaseGeometry:
        geoms: list[BaseGeometry] = []
        for prop in elem:
            name = reader.name(prop)
            if name == many:
                geoms.extend(reader.geometry(g, ctx) for g in prop)
            elif name in one:
                geoms.append(reader.geometry(reader.only(prop, "one geometry"), ctx))
        for g in geoms:
            if parts is not None and g.geom_type != parts and not g.is_empty:
                raise reader.fail(f"<{reader.name(elem)}> has a {g.geom_type} member, not a {parts}")
        kept = [g for g in geoms if not g.is_empty]
        flat = [p for g in kept for p in (g.geoms if parts and g.geom_type.startswith("Multi") else [g])]
        return build(flat)

    return read


_READERS: dict[str, Callable[[_Reader, ET.Element, _Context], BaseGeometry]] = {
    "Point": _Reader.point,
    "LineString": _Reader.line,
    "LinearRing": _Reader.line,
    "Curve": _Reader.curve,
    "Polygon": _Reader.polygon,
    "Surface": _Reader.surface,
    "Envelope": _Reader.envelope,
    "Box": _Reader.envelope,
    "MultiPoint": _multi(("pointMember",), "pointMembers", shapely.MultiPoint, "Point"),
    "MultiCurve": _multi(("curveMember",), "curveMembers", shapely.MultiLineString, "LineString"),
    "MultiLineString": _multi(("lineStringMember",), "", shapely.MultiLineString, "LineString"),
    "MultiSurface": _multi(("surfaceMember",), "surfaceMembers", shapely.MultiPolygon, "Polygon"),
    "MultiPolygon": _multi(("polygonMember",), "", shapely.MultiPolygon, "Polygon"),
    "MultiGeometry": _multi(("geometryMember",), "geometryMembers", shapely.GeometryCollection, None),
}


def _parse_xml(text: str, what: str) -> ET.Element:
    """The root element of ``text``: no DTD (so no entity of any kind), no network, bounded depth."""
    if "xmlns:gml" not in text and (m := _UNDECLARED_PREFIX.match(text)):
        # the gml: prefix used without a declaration, as some datasets write it: read as GML 3.2
        text = f'{m[1]} xmlns:gml="{GML_32}"{text[m.end() :]}'
    try:
        # the C parser builds the tree without recursion (and frees it the same way), so depth is checked after
        root = SafeET.fromstring(text, forbid_dtd=True)
    except defusedxml.DefusedXmlException as err:
        raise InvalidGeometryLiteral(f"{what}: DTDs and entities are not allowed in a gmlLiteral") from err
    except ET.ParseError as err:
        line, column = err.position
        raise InvalidGeometryLiteral(f"{what}: not well-formed XML (line {line}, column {column})") from err
    except UnicodeEncodeError as err:  # a lone surrogate (an RDF literal may carry one; XML may not)
        raise InvalidGeometryLiteral(f"{what}: not XML text ({err.reason})") from err
    level = [root]
    for _ in range(MAX_GML_DEPTH):
        level = [child for elem in level for child in elem]
        if not level:
            return root
    raise InvalidGeometryLiteral(f"{what}: nested deeper than {MAX_GML_DEPTH} elements")


def parse_gml_literal(lexical: str) -> GeometryValue:
    """The value of a geo:gmlLiteral lexical form (the profile and the axis-order rule: the module's docstring).

    An empty form is the empty geometry (Req 16, /req/geometry-extension/gml-literal-empty). The CRS of the
    value is the first ``srsName`` of the literal, as the EPSG IRI it names (CRS84 when there is none).

    Raises:
        InvalidGeometryLiteral: Too long or too deep, not well-formed XML, a DTD or entity, an element outside a
            GML namespace, a geometry outside the profile, an unsupported ``srsName``, malformed coordinates, an
            OGC-invalid geometry or a coordinate outside longitude/latitude range.
    """
    what = f"gmlLiteral {short(lexical)}"
    if len(lexical) > MAX_GML_CHARS:
        raise InvalidGeometryLiteral(f"{what}: longer than {MAX_GML_CHARS:,} characters")
    if not lexical.strip():
        return GeometryValue(shapely.GeometryCollection(), CRS84)
    root = _parse_xml(lexical, what)
    ns = root.tag[1:].partition("}")[0] if root.tag.startswith("{") else ""
    if not _GML_NAMESPACE.fullmatch(ns):
        raise InvalidGeometryLiteral(f"{what}: the root element is not in a GML namespace (namespace {ns!r})")
    srs = next((e.get("srsName") for e in root.iter() if e.get("srsName") is not None), None)
    reader = _Reader(ns, what)
    try:
        crs = CRS84 if srs is None else _crs(srs)[0]
        geom = shapely.force_2d(reader.geometry(root, _Context(None, None)))
    except InvalidGeometryLiteral as err:
        raise err if str(err).startswith(what) else reader.fail(str(err)) from None
    except (shapely.errors.ShapelyError, ValueError) as err:
        raise reader.fail(str(err)) from err
    return GeometryValue(checked(geom, what), crs)
