"""Domain errors of the semantic library (catalogue store, mappings, SPARQL).

Every error raised on purpose derives from :class:`SemanticError`; the CLI, the flows and the HTTP layer
translate them at the boundary (exit code 2, HTTP 4xx).
"""

from __future__ import annotations


class SemanticError(Exception):
    """Base class of every error raised on purpose by :mod:`semantic`."""


class DatabaseError(SemanticError):
    """The database cannot be reached, started, or is not at the expected schema revision."""


class RegionError(SemanticError):
    """A regions file cannot be read, has no CRS, or holds a geometry that cannot be used."""


class CatalogError(SemanticError):
    """A cube cannot be registered or loaded: unknown cube, unknown variable, bad feature threshold."""


class SparqlError(SemanticError):
    """A SPARQL query cannot be parsed or answered."""


class QuerySyntaxError(SparqlError):
    """The query text is not valid SPARQL 1.1; the message gives rdflib's position."""


class UnsupportedFeature(SparqlError):
    """The query uses a SPARQL feature the rewriter does not translate; the message names it.

    Raised instead of ever returning a possibly wrong answer.
    """

    def __init__(self, feature: str) -> None:
        super().__init__(f"unsupported SPARQL feature: {feature}")
        self.feature = feature

    def __reduce__(self) -> tuple[type, tuple[str]]:  # (pickled from a translator process: rebuilt from the feature)
        return (type(self), (self.feature,))


class QueryTooComplex(SparqlError):
    """The query is too large or too deeply nested to translate or to plan; the message names the limit."""


class QueryDataError(SparqlError):
    """A value the query uses is outside its domain (an invalid regular expression, a number out of range, a
    NUL character); the message is the database's own, without connection details."""


class RdfError(SemanticError):
    """An RDF file cannot be read or parsed, or its quads cannot be stored; the message names the file."""


class MappingError(SemanticError):
    """A mapping cannot be used: bad R2RML, an unknown table or column; the message names the triples map."""


class GeoSparqlError(SparqlError):
    """A GeoSPARQL literal, argument or function cannot be used in a query."""
