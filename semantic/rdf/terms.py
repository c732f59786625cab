"""RDF terms as the *term columns* of docs/sparql.md, and back.

A term becomes a :class:`TermRow`: its kind (1 IRI, 2 blank node, 3 literal), its lexical form (the IRI, the
blank node label, the literal's lexical form exactly as written), and for literals the datatype, the language
and the typed value where the datatype has one the database can index:

- ``num`` (:class:`~decimal.Decimal`): xsd:integer and its subtypes, xsd:decimal, xsd:float, xsd:double;
  float and double values are those of the IEEE double the lexical form denotes (``"0.1"^^xsd:double`` is
  ``0.1``, ``"INF"`` is ``Infinity``);
- ``ts`` (aware :class:`~datetime.datetime`): xsd:dateTime, xsd:dateTimeStamp and xsd:date (midnight at the
  start of the day). Values without a timezone are taken as UTC; fractions of a second beyond microseconds are
  truncated;
- ``geom`` (hex EWKB, SRID 4326, longitude/latitude, 2D): geo:wktLiteral, geo:geoJSONLiteral and geo:gmlLiteral
  (read by :mod:`semantic.geosparql.gml`).

A lexical form outside its datatype's lexical space (``"abc"^^xsd:integer``, ``"300"^^xsd:byte``, an
unreadable WKT) is an *ill-typed* literal: it is kept as written and its typed value is NULL, never an error.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np
import shapely
from rdflib import XSD, BNode, Literal, URIRef
from rdflib.term import Node

from semantic.geosparql.errors import InvalidGeometryLiteral
from semantic.geosparql.gml import parse_gml_literal
from semantic.vocab import BLANK, IRI, LITERAL, RDF_LANGSTRING, XSD_DATE, XSD_DECIMAL, XSD_STRING
from semantic.vocab import GEO_GEOJSON_LITERAL as GEOJSON_LITERAL
from semantic.vocab import GEO_GML_LITERAL as GML_LITERAL
from semantic.vocab import GEO_WKT_LITERAL as WKT_LITERAL

# inclusive bounds of the integer datatypes (None: unbounded)
INTEGER_RANGES: dict[str, tuple[int | None, int | None]] = {
    str(XSD.integer): (None, None),
    str(XSD.nonPositiveInteger): (None, 0),
    str(XSD.negativeInteger): (None, -1),
    str(XSD.nonNegativeInteger): (0, None),
    str(XSD.positiveInteger): (1, None),
    str(XSD.long): (-(2**63), 2**63 - 1),
    str(XSD.int): (-(2**31), 2**31 - 1),
    str(XSD.short): (-(2**15), 2**15 - 1),
    str(XSD.byte): (-(2**7), 2**7 - 1),
    str(XSD.unsignedLong): (0, 2**64 - 1),
    str(XSD.unsignedInt): (0, 2**32 - 1),
    str(XSD.unsignedShort): (0, 2**16 - 1),
    str(XSD.unsignedByte): (0, 2**8 - 1),
}
FLOAT_TYPES = frozenset({str(XSD.float), str(XSD.double)})
NUMERIC_TYPES = frozenset(INTEGER_RANGES) | {XSD_DECIMAL} | FLOAT_TYPES
DATETIME_TYPES = frozenset({str(XSD.dateTime), str(XSD.dateTimeStamp)})
GEOMETRY_TYPES = frozenset({WKT_LITERAL, GEOJSON_LITERAL, GML_LITERAL})

# the lexical spaces of XML Schema 1.1 (no surrounding whitespace: RDF lexical forms are taken as written)
_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)")
_FLOAT = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?|[+-]?INF|NaN")
_TZ = r"(?P<tz>Z|[+-](?:(?:0[0-9]|1[0-3]):[0-5][0-9]|14:00))?"
_YEAR = r"(?P<year>-?(?:[1-9][0-9]{3,}|0[0-9]{3}))-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})"
_DATETIME = re.compile(
    _YEAR + r"T(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})(?:\.(?P<fraction>[0-9]+))?" + _TZ
)
_DATE = re.compile(_YEAR + _TZ)

CRS84 = frozenset(
    f"{scheme}://www.opengis.net/def/crs/OGC/{version}/CRS84"
    for scheme in ("http", "https")
    for version in ("1.3", "0")
)
_EPSG = re.compile(r"https?://www\.opengis\.net/def/crs/EPSG/0/([0-9]+)")


@dataclass(frozen=True, slots=True)
class TermRow:
    """An RDF term as the values of its term columns (the quad table's ``o_*`` columns for an object)."""

    kind: int
    lex: str
    dt: str | None = None
    lang: str | None = None
    num: Decimal | None = None
    ts: datetime | None = None
    geom: str | None = None
    """Hex EWKB with SRID 4326 (what PostGIS reads from text)."""

    @property
    def ill_typed(self) -> bool:
        """A literal of a datatype with a typed column whose lexical form gave no value."""
        if self.kind != LITERAL or self.dt is None:
            return False
        if self.dt in NUMERIC_TYPES:
            return self.num is None
        if self.dt in DATETIME_TYPES or self.dt == XSD_DATE:
            return self.ts is None
        if self.dt in GEOMETRY_TYPES:
            return self.geom is None
        return False


def numeric_value(lexical: str, datatype: str) -> Decimal | None:
    """The value of a numeric literal; ``None`` when ``lexical`` is not in the datatype's lexical space.

    Integer subtypes are checked against their bounds (``"300"^^xsd:byte`` has no value). xsd:float and
    xsd:double are read as IEEE doubles and stored as the shortest decimal that reads back as the same double.
    """
    try:
        if datatype in FLOAT_TYPES:
            if not _FLOAT.fullmatch(lexical):
                return None
            value = float(lexical)  # also rounds out-of-range magnitudes to ±INF, as XML Schema 1.1 does
            if value != value:
                return Decimal("NaN")
            if value in (float("inf"), float("-inf")):
                return Decimal("Infinity") if value > 0 else Decimal("-Infinity")
            return Decimal(repr(value))
        if datatype == XSD_DECIMAL:
            return Decimal(lexical) if _DECIMAL.fullmatch(lexical) else None
        bounds = INTEGER_RANGES.get(datatype)
        if bounds is None or not _INTEGER.fullmatch(lexical):
            return None
        number = int(lexical)
    except (InvalidOperation, ValueError):
        return None
    low, high = bounds
    if (low is not None and number < low) or (high is not None and number > high):
        return None
    return Decimal(number)


def _offset(tz: str | None) -> tzinfo:
    if tz is None or tz == "Z":
        return UTC  # a value without a timezone is taken as UTC
    sign = -1 if tz[0] == "-" else 1
    hours, minutes = int(tz[1:3]), int(tz[4:6])
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def timestamp_value(lexical: str, datatype: str) -> datetime | None:
    """The instant of an xsd:dateTime / xsd:dateTimeStamp / xsd:date literal; ``None`` when ill-typed.

    Values without a timezone are taken as UTC; a date is midnight at the start of the day (in its timezone).
    ``24:00:00`` is midnight of the next day. Years outside 1..9999 have no value here.
    """
    if datatype in DATETIME_TYPES:
        m = _DATETIME.fullmatch(lexical)
        if m is None or (datatype == str(XSD.dateTimeStamp) and m["tz"] is None):
            return None
        hour, minute, second = int(m["hour"]), int(m["minute"]), int(m["second"])
        fraction = m["fraction"] or ""
        next_day = hour == 24
        if next_day:
            if minute or second or fraction.strip("0"):
                return None
            hour = 0
        micro = int((fraction + "000000")[:6])
    elif datatype == XSD_DATE:
        m = _DATE.fullmatch(lexical)
        if m is None:
            return None
        hour = minute = second = micro = 0
        next_day = False
    else:
        return None
    try:
        value = datetime(
            int(m["year"]), int(m["month"]), int(m["day"]), hour, minute, second, micro, tzinfo=_offset(m["tz"])
        )
        return value + timedelta(days=1) if next_day else value
    except (ValueError, OverflowError):
        return None


@functools.lru_cache(maxsize=64)
def _to_crs84(epsg: int) -> Callable[[np.ndarray], np.ndarray] | None:
    """Coordinates in the axis order of EPSG:``epsg`` to longitude/latitude; ``None`` for an unknown code."""
    if epsg == 4326:  # latitude, longitude: a swap, exactly
        return lambda xy: xy[:, ::-1]
    from pyproj import CRS, Transformer
    from pyproj.exceptions import CRSError

    try:
        # always_xy=False: GeoSPARQL writes coordinates in the axis order the CRS defines
        transformer = Transformer.from_crs(CRS.from_epsg(epsg), CRS.from_user_input("OGC:CRS84"), always_xy=False)
    except CRSError:
        return None

    def transform(xy: np.ndarray) -> np.ndarray:
        # lists, not arrays: pyproj would take a 1-element array for a scalar point (a NumPy deprecation)
        x, y = transformer.transform(xy[:, 0].tolist(), xy[:, 1].tolist(), errcheck=False)
        return np.column_stack([x, y])

    return transform


_UNKNOWN_CRS = -1


def _split_wkt(text: str) -> tuple[int | None, str]:
    """The EPSG code of a wktLiteral's CRS IRI (``None``: CRS84; ``_UNKNOWN_CRS``) and the WKT after it."""
    text = text.strip()
    if not text.startswith("<"):
        return None, text
    end = text.find(">")
    if end < 0:
        return _UNKNOWN_CRS, text
    crs, text = text[1:end], text[end + 1 :].strip()
    if crs in CRS84:
        return None, text
    m = _EPSG.fullmatch(crs)
    return (int(m[1]) if m else _UNKNOWN_CRS), text


def _from_wkt(texts: list[str]) -> Any:
    """Geometries of WKT texts, ``None`` for invalid ones and for curved ones (CIRCULARSTRING and kin), which
    GEOS cannot read (NotImplementedError for the whole batch: then read one by one)."""
    try:
        return shapely.from_wkt(np.array(texts, dtype=object), on_invalid="ignore")
    except NotImplementedError:
        out = np.full(len(texts), None, dtype=object)
        for i, text in enumerate(texts):
            try:
                out[i] = shapely.from_wkt(text, on_invalid="ignore")
            except NotImplementedError:
                pass
        return out


def geometry_values(literals: Sequence[tuple[str, str]]) -> list[Any]:
    """The shapely geometries (longitude/latitude, 2D) of geometry literals ``(lexical, datatype)``, read in bulk;
    ``None`` for each ill-typed one.

    A geo:wktLiteral may start with a CRS IRI: none or OGC CRS84 means longitude/latitude; an EPSG CRS
    (``<http://www.opengis.net/def/crs/EPSG/0/4326>``) gives the coordinates in that CRS's axis order, so
    EPSG:4326 is latitude/longitude and is swapped, and other codes are reprojected with pyproj. An empty
    wktLiteral is the empty geometry. A geo:geoJSONLiteral is longitude/latitude (RFC 7946); an empty one is the
    empty geometry too. A geo:gmlLiteral is read one by one (:func:`~semantic.geosparql.gml.parse_gml_literal`:
    srsName and its axis order, the GML profile); an empty one is the empty geometry. Z and M are dropped.
    Unreadable text, an unknown CRS, a geometry that is not OGC-valid, or a coordinate outside longitude
    [-180, 180] / latitude [-90, 90] gives ``None``: such a geometry would make spatial queries fail or lie.
    """
    geoms = np.full(len(literals), None, dtype=object)
    wkt: dict[int | None, tuple[list[int], list[str]]] = {}  # CRS -> (positions, WKT texts)
    geojson: tuple[list[int], list[str]] = ([], [])
    for i, (lexical, datatype) in enumerate(literals):
        if datatype == WKT_LITERAL:
            epsg, text = _split_wkt(lexical)
            if epsg == _UNKNOWN_CRS:
                continue
            if not text:
                geoms[i] = shapely.GeometryCollection()
                continue
            positions, texts = wkt.setdefault(epsg, ([], []))
            positions.append(i)
            texts.append(text)
        elif datatype == GML_LITERAL:
            geoms[i] = _gml(lexical)
        elif datatype == GEOJSON_LITERAL:
            if not lexical.strip():  # GeoSPARQL 1.1: an empty geoJSONLiteral is the empty geometry
                geoms[i] = shapely.GeometryCollection()
                continue
            geojson[0].append(i)
            geojson[1].append(lexical)
    for epsg, (positions, texts) in wkt.items():
        read = shapely.force_2d(_from_wkt(texts))
        if epsg is not None:
            transform = _to_crs84(epsg)
            read = np.full(len(texts), None, dtype=object) if transform is None else shapely.transform(read, transform)
        geoms[positions] = read
    if geojson[0]:
        json_texts = np.array(geojson[1], dtype=object)
        geoms[geojson[0]] = shapely.force_2d(shapely.from_geojson(json_texts, on_invalid="ignore"))
    with np.errstate(invalid="ignore"):
        x0, y0, x1, y1 = shapely.bounds(geoms).T  # NaN for missing and empty geometries
        inside = (x0 >= -180) & (x1 <= 180) & (y0 >= -90) & (y1 <= 90)  # false for NaN and infinities
    good = ~shapely.is_missing(geoms) & shapely.is_valid(geoms) & (inside | shapely.is_empty(geoms))
    return [g if ok else None for g, ok in zip(geoms, good, strict=True)]


def _gml(lexical: str) -> Any:
    """The geometry of a gmlLiteral, ``None`` when it cannot be read (an ill-typed literal, never an error)."""
    try:
        return parse_gml_literal(lexical).geometry
    except InvalidGeometryLiteral:
        return None


def geometry_value(lexical: str, datatype: str) -> Any:
    """The shapely geometry of one geometry literal; see :func:`geometry_values`."""
    return geometry_values([(lexical, datatype)])[0]


def ewkb(geom: Any) -> str:
    """Hex EWKB of a longitude/latitude geometry, with SRID 4326."""
    return str(shapely.to_wkb(shapely.set_srid(geom, 4326), hex=True, include_srid=True))


def literal_values(lexical: str, datatype: str | None, lang: str | None) -> TermRow:
    """The term columns of a literal, without its geometry: the one encoding of literal values, for stored quads
    and for a query's constants alike (:func:`semantic.sparql.terms.constant`)."""
    if lang:
        return TermRow(LITERAL, lexical, RDF_LANGSTRING, lang.lower())
    datatype = datatype or XSD_STRING
    num = numeric_value(lexical, datatype) if datatype in NUMERIC_TYPES else None
    ts = timestamp_value(lexical, datatype) if datatype in DATETIME_TYPES or datatype == XSD_DATE else None
    return TermRow(LITERAL, lexical, datatype, None, num, ts)


def literal_row(lexical: str, datatype: str | None = None, lang: str | None = None) -> TermRow:
    """The term columns of a literal (no ``datatype`` and no ``lang``: a simple literal, i.e. xsd:string)."""
    row = literal_values(lexical, datatype, lang)
    if row.dt in GEOMETRY_TYPES and (value := geometry_value(lexical, row.dt)) is not None:
        row = replace(row, geom=ewkb(value))
    return row


def term_rows(terms: Sequence[Node]) -> list[TermRow]:
    """The term columns of rdflib IRIs, blank nodes (labels as rdflib has them) and literals; geometries are
    read in bulk.

    Raises:
        TypeError: A term is not an RDF term (a variable, a quoted graph).
    """
    rows: list[TermRow] = []
    geometry: list[int] = []
    for term in terms:
        if isinstance(term, URIRef):
            rows.append(TermRow(IRI, str(term)))
        elif isinstance(term, BNode):
            rows.append(TermRow(BLANK, str(term)))
        elif isinstance(term, Literal):
            row = literal_values(str(term), None if term.datatype is None else str(term.datatype), term.language)
            if row.dt in GEOMETRY_TYPES:
                geometry.append(len(rows))
            rows.append(row)
        else:
            raise TypeError(f"not an RDF term: {term!r}")
    if geometry:
        values = np.array(geometry_values([(rows[i].lex, str(rows[i].dt)) for i in geometry]), dtype=object)
        hexes = shapely.to_wkb(shapely.set_srid(values, 4326), hex=True, include_srid=True)  # None stays None
        for i, value in zip(geometry, hexes, strict=True):
            if value is not None:
                rows[i] = replace(rows[i], geom=str(value))
    return rows


def term_row(term: Node) -> TermRow:
    """The term columns of one rdflib term; see :func:`term_rows`."""
    return term_rows([term])[0]


def to_term(kind: int, lex: str, dt: str | None = None, lang: str | None = None) -> Node:
    """The rdflib term of term columns; the inverse of :func:`term_row` (lexical forms are kept as stored).

    Simple literals come back without a datatype (rdflib's form of an xsd:string literal).

    Raises:
        ValueError: ``kind`` is not 1, 2 or 3.
    """
    if kind == IRI:
        return URIRef(lex)
    if kind == BLANK:
        return BNode(lex)
    if kind == LITERAL:
        if lang:
            return Literal(lex, lang=lang, normalize=False)
        if dt is None or dt == XSD_STRING:
            return Literal(lex, normalize=False)
        return Literal(lex, datatype=URIRef(dt), normalize=False)
    raise ValueError(f"unknown term kind {kind}")
