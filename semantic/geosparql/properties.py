"""GeoSPARQL's geometry properties (``geo:dimension`` ... ``geo:isSimple``) as triples: computed from a geometry's
PostGIS value wherever the geometry has one, in the mapped tables (T-mappings derive them from ``geo:asWKT`` on a
geometry column) and in the quad table (from the loaded serialisations' ``o_geom``).

``geo:hasSerialization`` needs nothing here: ``geo:asWKT``, ``geo:asGML`` and ``geo:asGeoJSON`` are its
subproperties in the ontology. :data:`GEOMETRY_VALUE` is the rewrite rule's view of a geometry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from semantic.geosparql.functions import spatial_dimension
from semantic.geosparql.literals import GEO
from semantic.sql import case

XSD = "http://www.w3.org/2001/XMLSchema#"
AS_WKT = GEO + "asWKT"
HAS_SERIALIZATION = GEO + "hasSerialization"
# the properties whose geometry literals (WKT, GML, GeoJSON) the loader stores as geometries (``o_geom``)
SERIALIZATIONS = (GEO + "asWKT", GEO + "asGML", GEO + "asGeoJSON", HAS_SERIALIZATION)

GEOMETRY_VALUE = "urn:esdl:geometry"
"""An internal property (no vocabulary publishes it) from a geometry to its value, a ``geo:wktLiteral`` whose SQL
geometry is the one every serialisation of it reads into: GeoSPARQL's query-rewrite rule reads a geometry through
any serialisation, and through this property a geometry with several serialisations of one value (a WKT and a
GeoJSON literal, a column mapped both ways) is one geometry, not one per serialisation. The T-mappings derive it
once per mapped geometry column; in the quad table it is an entailed view over the loaded serialisations."""


def _dimension(g: Any) -> Any:
    return sa.func.ST_Dimension(g, type_=sa.Integer())


def _coordinate_dimension(g: Any) -> Any:
    return sa.func.ST_CoordDim(g, type_=sa.Integer())


def _is_empty(g: Any) -> Any:
    return sa.func.ST_IsEmpty(g, type_=sa.Boolean())


def _is_simple(g: Any) -> Any:
    return sa.func.ST_IsSimple(g, type_=sa.Boolean())


# property IRI -> (datatype, the value as SQL of a geometry expression)
GEOMETRY_PROPERTIES: dict[str, tuple[str, Callable[[Any], Any]]] = {
    GEO + "dimension": (XSD + "integer", _dimension),
    GEO + "coordinateDimension": (XSD + "integer", _coordinate_dimension),
    GEO + "spatialDimension": (XSD + "integer", spatial_dimension),
    GEO + "isEmpty": (XSD + "boolean", _is_empty),
    GEO + "isSimple": (XSD + "boolean", _is_simple),
}


def lexical(datatype: str, value: Any) -> Any:
    """The SQL lexical form of a property's value: an integer's text, ``true``/``false``."""
    if datatype == XSD + "boolean":
        return case((value, "true"), (sa.not_(value), "false"), else_=sa.null())
    return value.cast(sa.Text())


__all__ = ["AS_WKT", "GEOMETRY_PROPERTIES", "GEOMETRY_VALUE", "HAS_SERIALIZATION", "SERIALIZATIONS", "lexical"]
