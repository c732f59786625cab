"""GeoSPARQL 1.0 / 1.1 for the SPARQL-to-SQL rewriter: literals, topological relations and functions on PostGIS.

- :mod:`~semantic.geosparql.literals`: geo:wktLiteral / geo:geoJSONLiteral / geo:gmlLiteral to longitude/latitude
  geometries and bound parameters, and SQL geometries back to literal lexical forms; the package's errors
  (:mod:`~semantic.geosparql.errors`) re-exported.
- :mod:`~semantic.geosparql.gml`: the GML reader (the profile it reads, srsName forms and axis order);
  :mod:`~semantic.geosparql.geometry`: the CRS transforms and checks every reader shares.
- :mod:`~semantic.geosparql.relations`: the Simple Features, Egenhofer and RCC8 relations (functions and
  properties) with their DE-9IM definitions, as index-friendly predicates; ``geof:relate``.
- :mod:`~semantic.geosparql.functions`: :data:`FUNCTIONS`, every translated IRI with its builder, argument kinds
  and result kind; :data:`UNSUPPORTED` with reasons. :mod:`~semantic.geosparql.measures` builds the measures
  (distance, buffer, area, length, perimeter) in the units of :mod:`~semantic.geosparql.units`.
"""

from semantic.geosparql.functions import (
    FUNCTIONS,
    UNSUPPORTED,
    ArgKind,
    FunctionSpec,
    ResultKind,
    call,
    function,
)
from semantic.geosparql.literals import (
    CRS84,
    GeometryValue,
    GeoSparqlError,
    InvalidArgument,
    InvalidGeometryLiteral,
    UnsupportedFunction,
    as_geojson,
    as_gml,
    as_wkt,
    geometry_param,
    literal_geometry,
    parse_geometry_literal,
)
from semantic.geosparql.relations import RELATIONS, Relation, relate, relation, relation_sql
from semantic.geosparql.units import UNITS, Unit

__all__ = [
    "CRS84",
    "FUNCTIONS",
    "RELATIONS",
    "UNITS",
    "UNSUPPORTED",
    "ArgKind",
    "FunctionSpec",
    "GeoSparqlError",
    "GeometryValue",
    "InvalidArgument",
    "InvalidGeometryLiteral",
    "Relation",
    "ResultKind",
    "Unit",
    "UnsupportedFunction",
    "as_geojson",
    "as_gml",
    "as_wkt",
    "call",
    "function",
    "geometry_param",
    "literal_geometry",
    "parse_geometry_literal",
    "relate",
    "relation",
    "relation_sql",
]
