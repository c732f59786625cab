"""The errors of :mod:`semantic.geosparql`: bad geometry literals, bad function arguments, untranslated IRIs.

All derive from :class:`semantic.errors.GeoSparqlError`; :mod:`semantic.geosparql.literals` re-exports them.
"""

from __future__ import annotations

from semantic.errors import GeoSparqlError, UnsupportedFeature

__all__ = ["GeoSparqlError", "InvalidArgument", "InvalidGeometryLiteral", "UnsupportedFunction"]


class InvalidGeometryLiteral(GeoSparqlError):
    """A geometry literal cannot be read: bad WKT, GeoJSON or GML, unknown CRS, invalid or out-of-range geometry."""


class InvalidArgument(GeoSparqlError):
    """A GeoSPARQL function argument is wrong: arity, units IRI, DE-9IM pattern, a non-constant IRI."""


class UnsupportedFunction(UnsupportedFeature, GeoSparqlError):
    """A GeoSPARQL function or property IRI that is not translated to SQL; the message says why."""

    def __init__(self, iri: str, reason: str = "not a GeoSPARQL function this engine translates") -> None:
        super().__init__(f"{iri} ({reason})")
        self.iri = iri
        self.reason = reason
