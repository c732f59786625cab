"""GeoSPARQL functions in SPARQL expressions: the bridge from the expression compiler to
:mod:`semantic.geosparql` (arguments from term columns, results back to term columns).

Geometry arguments may be WKT, GeoJSON or GML literals in any combination: constants are read here, stored and
computed ones carry their geometry in the ``geom`` term column. A function that returns a geometry writes it in
the serialisation of its first geometry argument (WKT for WKT, GeoJSON for GeoJSON, GML for GML): GeoSPARQL
declares the argument and the result as ``ogc:geomLiteral`` and computes "in the spatial reference system of
geom1" (1.0 clause 8.7, Req 19 /req/geometry-extension/query-functions), so the result is the same kind of
literal as geom1, in CRS84 (the only CRS geometries have in SQL).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from rdflib import Literal, URIRef

from semantic.geosparql.functions import FUNCTIONS, ArgKind, FunctionSpec, ResultKind, unit
from semantic.geosparql.gml import CRS84_SRS_NAME, EPSG_SRS_NAME
from semantic.geosparql.literals import (
    CRS84,
    GEOF,
    GEOJSON_LITERAL,
    GML_LITERAL,
    WKT_LITERAL,
    InvalidArgument,
    as_geojson,
    as_gml,
    as_wkt,
    literal_geometry,
    parse_geometry_literal,
)
from semantic.sparql.expressions import Compiler, Val, boolean_val, numeric_val, string_val
from semantic.sparql.terms import IRI, LITERAL, UNKNOWN, XSD_DOUBLE, XSD_INTEGER, TermCols, static
from semantic.sparql.values import KIND
from semantic.sql import case
from semantic.vocab import XSD_ANY_URI

_GEOMETRY_LITERALS = (WKT_LITERAL, GEOJSON_LITERAL, GML_LITERAL)
_WRITERS: dict[str, Callable[[Any], Any]] = {WKT_LITERAL: as_wkt, GEOJSON_LITERAL: as_geojson, GML_LITERAL: as_gml}


def _geometry_argument(compiler: Compiler, expr: Any) -> tuple[Any, Any]:
    """A geometry argument's SQL geometry and its datatype: a ``str`` when known now, else a SQL expression."""
    if isinstance(expr, Literal) and str(expr.datatype) in _GEOMETRY_LITERALS:
        return literal_geometry(str(expr), str(expr.datatype)), str(expr.datatype)
    term = compiler(expr).term
    datatype = static(term, "dt")
    return term.get("geom"), term.get("dt") if datatype is UNKNOWN else datatype


def _argument(compiler: Compiler, kind: ArgKind, expr: Any) -> Any:
    if kind == ArgKind.UNITS:
        if not isinstance(expr, URIRef):
            return expr  # the library rejects a non-constant unit with a named error
        return str(expr)
    if kind == ArgKind.PATTERN and isinstance(expr, Literal):
        return str(expr)
    t = compiler(expr).term
    return t.get("num") if kind in (ArgKind.NUMBER, ArgKind.INTEGER) else t.get("v")


def _serialised(value: Any, datatype: Any) -> tuple[Any, Any]:
    """The lexical form and datatype of geometry ``value`` written as a literal of ``datatype`` (a ``str``, or a
    SQL expression: chosen per row), WKT for any other datatype."""
    if not isinstance(datatype, sa.ColumnElement):
        chosen = datatype if datatype in _WRITERS else WKT_LITERAL
        return _WRITERS[chosen](value), sa.literal(chosen, sa.Text())
    lexical = case(
        (datatype == GML_LITERAL, as_gml(value)),
        (datatype == GEOJSON_LITERAL, as_geojson(value)),
        else_=as_wkt(value),
    )
    chosen = case((datatype.in_([GML_LITERAL, GEOJSON_LITERAL]), datatype), else_=sa.literal(WKT_LITERAL, sa.Text()))
    return lexical, chosen


def _result(spec: FunctionSpec, value: Any, geometry_datatype: Any = WKT_LITERAL) -> Val:
    kind = spec.result
    if kind == ResultKind.BOOLEAN:
        return boolean_val(value)
    if kind == ResultKind.GEOMETRY:
        k = case((value.is_not(None), sa.literal(LITERAL, KIND)), else_=sa.null())
        lexical, datatype = _serialised(value, geometry_datatype)
        return Val(TermCols(k, lexical, datatype, None, None, None, value))
    if kind == ResultKind.DOUBLE:
        return numeric_val(value.cast(sa.Numeric()), sa.literal(XSD_DOUBLE, sa.Text()))
    if kind == ResultKind.INTEGER:
        return numeric_val(value.cast(sa.Numeric()), sa.literal(XSD_INTEGER, sa.Text()))
    if kind == ResultKind.IRI:
        return Val(TermCols(case((value.is_not(None), sa.literal(IRI, KIND)), else_=sa.null()), value))
    if kind in (ResultKind.WKT, ResultKind.GEOJSON, ResultKind.GML):
        return string_val(value, sa.literal(spec.datatype, sa.Text()))
    return string_val(value)


def _function(spec: FunctionSpec) -> Callable[[Compiler, list[Any]], Val]:
    def build(compiler: Compiler, args: list[Any]) -> Val:
        kinds = list(spec.args)
        for kind, arg in zip(kinds, args, strict=False):
            if kind == ArgKind.UNITS and isinstance(arg, URIRef) and not _known_unit(arg):
                # an unknown units IRI: an expression error (unbound in BIND, false in FILTER), as the standard
                # has it, not a failed query
                return Val(TermCols(sa.null().cast(KIND), sa.null().cast(sa.Text())))
        values: list[Any] = []
        first: Any = None  # the datatype of the first geometry argument
        for i, arg in enumerate(args):
            kind = kinds[i] if i < len(kinds) else ArgKind.NUMBER
            if kind == ArgKind.GEOMETRY:
                geometry, datatype = _geometry_argument(compiler, arg)
                values.append(geometry)
                first = datatype if first is None else first
            else:
                values.append(_argument(compiler, kind, arg))
        return _result(spec, spec(*values), WKT_LITERAL if first is None else first)

    return build


def _known_unit(iri: URIRef) -> bool:
    try:
        unit(str(iri))
    except InvalidArgument:
        return False
    return True


def _get_srid(compiler: Compiler, args: list[Any]) -> Val:
    """geof:getSRID: the IRI of the CRS a geometry literal is written in, as an xsd:anyURI literal: a wktLiteral's
    own CRS IRI (CRS84 when it names none), the EPSG IRI a gmlLiteral's first ``srsName`` names (CRS84 for none
    or a CRS84 name; semantic.geosparql.gml reads it the same way), CRS84 for a geoJSONLiteral and for a computed
    geometry (geometries are CRS84 in SQL); an error for anything else."""
    if len(args) != 1:
        raise InvalidArgument("geof:getSRID takes one geometry")
    (arg,) = args
    if isinstance(arg, Literal) and str(arg.datatype) in _GEOMETRY_LITERALS:
        crs: Any = sa.literal(parse_geometry_literal(str(arg), str(arg.datatype)).crs, sa.Text())
        return string_val(crs, sa.literal(XSD_ANY_URI, sa.Text()))
    t = compiler(arg).term
    named = sa.func.substring(t.get("v"), r"^\s*<([^>]+)>")
    literal = t.get("k") == LITERAL
    crs = case(
        (t.get("geom").is_(None), sa.null()),
        (literal & (t.get("dt") == WKT_LITERAL), sa.func.coalesce(named, CRS84)),
        (literal & (t.get("dt") == GML_LITERAL), _gml_srid(t.get("v"))),
        else_=sa.literal(CRS84, sa.Text()),
    )
    return string_val(crs, sa.literal(XSD_ANY_URI, sa.Text()))


def _gml_srid(lexical: Any) -> Any:
    """The CRS IRI of a gmlLiteral's first ``srsName`` in SQL (the lexical form of a readable literal)."""
    srs = sa.func.btrim(sa.func.substring(lexical, r"""srsName\s*=\s*["']([^"']*)"""))
    return case(
        (srs.is_(None), CRS84),
        (srs.regexp_match(CRS84_SRS_NAME), CRS84),
        else_="http://www.opengis.net/def/crs/EPSG/0/" + sa.func.substring(srs, EPSG_SRS_NAME),
    )


GEO_FUNCTIONS: dict[str, Callable[[Compiler, list[Any]], Val]] = {
    iri: _function(spec) for iri, spec in FUNCTIONS.items() if not spec.is_property
} | {GEOF + "getSRID": _get_srid}
