"""GeoSPARQL functions in SPARQL expressions: the bridge from the expression compiler to
:mod:`semantic.geosparql` (arguments from term columns, results back to term columns)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from rdflib import Literal, URIRef

from semantic.geosparql.functions import FUNCTIONS, ArgKind, FunctionSpec, ResultKind, unit
from semantic.geosparql.literals import (
    CRS84,
    GEOF,
    GEOJSON_LITERAL,
    WKT_LITERAL,
    InvalidArgument,
    as_wkt,
    literal_geometry,
    parse_geometry_literal,
)
from semantic.sparql.expressions import Compiler, Val, boolean_val, numeric_val, string_val
from semantic.sparql.terms import IRI, LITERAL, XSD_DOUBLE, XSD_INTEGER, TermCols
from semantic.sql import case

_K = sa.SmallInteger()


def _argument(compiler: Compiler, kind: ArgKind, expr: Any) -> Any:
    if kind == ArgKind.UNITS:
        if not isinstance(expr, URIRef):
            return expr  # the library rejects a non-constant unit with a named error
        return str(expr)
    if kind == ArgKind.PATTERN and isinstance(expr, Literal):
        return str(expr)
    if kind == ArgKind.GEOMETRY:
        if isinstance(expr, Literal) and str(expr.datatype) in (WKT_LITERAL, GEOJSON_LITERAL):
            return literal_geometry(str(expr), str(expr.datatype))
        return compiler(expr).term.get("geom")
    t = compiler(expr).term
    return t.get("num") if kind in (ArgKind.NUMBER, ArgKind.INTEGER) else t.get("v")


def _result(spec: FunctionSpec, value: Any) -> Val:
    kind = spec.result
    if kind == ResultKind.BOOLEAN:
        return boolean_val(value)
    if kind == ResultKind.GEOMETRY:
        k = case((value.is_not(None), sa.literal(LITERAL, _K)), else_=sa.null())
        return Val(TermCols(k, as_wkt(value), sa.literal(WKT_LITERAL, sa.Text()), None, None, None, value))
    if kind == ResultKind.DOUBLE:
        return numeric_val(value.cast(sa.Numeric()), sa.literal(XSD_DOUBLE, sa.Text()))
    if kind == ResultKind.INTEGER:
        return numeric_val(value.cast(sa.Numeric()), sa.literal(XSD_INTEGER, sa.Text()))
    if kind == ResultKind.IRI:
        return Val(TermCols(case((value.is_not(None), sa.literal(IRI, _K)), else_=sa.null()), value))
    if kind in (ResultKind.WKT, ResultKind.GEOJSON):
        datatype = WKT_LITERAL if kind == ResultKind.WKT else GEOJSON_LITERAL
        return string_val(value, sa.literal(datatype, sa.Text()))
    return string_val(value)


def _function(spec: FunctionSpec) -> Callable[[Compiler, list[Any]], Val]:
    def build(compiler: Compiler, args: list[Any]) -> Val:
        kinds = list(spec.args)
        for kind, arg in zip(kinds, args, strict=False):
            if kind == ArgKind.UNITS and isinstance(arg, URIRef) and not _known_unit(arg):
                # an unknown units IRI: an expression error (unbound in BIND, false in FILTER), as the standard
                # has it, not a failed query
                return Val(TermCols(sa.null().cast(_K), sa.null().cast(sa.Text())))
        values = [_argument(compiler, kinds[i] if i < len(kinds) else ArgKind.NUMBER, a) for i, a in enumerate(args)]
        return _result(spec, spec(*values))

    return build


_ANY_URI = "http://www.w3.org/2001/XMLSchema#anyURI"


def _known_unit(iri: URIRef) -> bool:
    try:
        unit(str(iri))
    except InvalidArgument:
        return False
    return True


def _get_srid(compiler: Compiler, args: list[Any]) -> Val:
    """geof:getSRID: the IRI of the CRS a geometry literal is written in, as an xsd:anyURI literal: a wktLiteral's
    own CRS IRI (CRS84 when it names none), CRS84 for a geoJSONLiteral and for a computed geometry (geometries are
    CRS84 in SQL); an error for anything else."""
    if len(args) != 1:
        raise InvalidArgument("geof:getSRID takes one geometry")
    (arg,) = args
    if isinstance(arg, Literal) and str(arg.datatype) in (WKT_LITERAL, GEOJSON_LITERAL):
        crs: Any = sa.literal(parse_geometry_literal(str(arg), str(arg.datatype)).crs, sa.Text())
        return string_val(crs, sa.literal(_ANY_URI, sa.Text()))
    t = compiler(arg).term
    named = sa.func.substring(t.get("v"), r"^\s*<([^>]+)>")
    crs = case(
        (t.get("geom").is_(None), sa.null()),
        ((t.get("k") == LITERAL) & (t.get("dt") == WKT_LITERAL), sa.func.coalesce(named, CRS84)),
        else_=sa.literal(CRS84, sa.Text()),
    )
    return string_val(crs, sa.literal(_ANY_URI, sa.Text()))


GEO_FUNCTIONS: dict[str, Callable[[Compiler, list[Any]], Val]] = {
    iri: _function(spec) for iri, spec in FUNCTIONS.items() if not spec.is_property
} | {GEOF + "getSRID": _get_srid}
