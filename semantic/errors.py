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
