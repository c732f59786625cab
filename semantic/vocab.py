"""The vocabulary the semantic layer shares: XSD, RDF, GeoSPARQL and GeoSPARQL-function IRIs, the term-kind codes
of the term columns, and the quad table's columns (docs/sparql.md, "RDF terms in SQL").

The quad table's columns are read from the store's model (:class:`semantic.store.models.RdfQuad`), so that a
column renamed there is renamed in the rewriter too.
"""

from __future__ import annotations

from semantic.store.models import RdfQuad

XSD = "http://www.w3.org/2001/XMLSchema#"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
GEO = "http://www.opengis.net/ont/geosparql#"
GEOF = "http://www.opengis.net/def/function/geosparql/"

RDF_TYPE = RDF + "type"
RDF_NIL = RDF + "nil"
RDF_LANGSTRING = RDF + "langString"

XSD_STRING = XSD + "string"
XSD_BOOLEAN = XSD + "boolean"
XSD_INTEGER = XSD + "integer"
XSD_DECIMAL = XSD + "decimal"
XSD_FLOAT = XSD + "float"
XSD_DOUBLE = XSD + "double"
XSD_DATETIME = XSD + "dateTime"
XSD_DATE = XSD + "date"
XSD_DAYTIME_DURATION = XSD + "dayTimeDuration"
XSD_ANY_URI = XSD + "anyURI"

GEO_WKT_LITERAL = GEO + "wktLiteral"
GEO_GEOJSON_LITERAL = GEO + "geoJSONLiteral"
GEO_GML_LITERAL = GEO + "gmlLiteral"

IRI, BLANK, LITERAL = 1, 2, 3
"""Term-kind codes of the ``kind`` term column (``s_kind``, ``o_kind`` in the quad table); NULL is unbound."""

_NOT_QUERIED = frozenset({"id", "source"})  # the row's key and provenance: no part of a quad's terms
QUAD_COLUMNS: tuple[str, ...] = tuple(c.name for c in RdfQuad.__table__.columns if c.name not in _NOT_QUERIED)
"""The quad table's columns that the rewriter reads: the graph, the subject's, the predicate's and the object's
term columns, in the model's order."""
QUAD_TABLE: str = RdfQuad.__tablename__
"""The quad table's name."""
