"""R2RML mappings of the catalogue, the project ontology, and the T-mappings compiled from both.

Start-up sequence of the SPARQL endpoint::

    mappings = load_mappings()                    # semantic/mappings/*.ttl
    column_types = validate_mappings(engine, mappings)      # MappingError names any unknown table or column
    tmappings = compile_tmappings(mappings, load_ontology(), read_foreign_keys(engine, mappings))
    tmappings.assertions_for_class(GEO + "Feature")
"""

from __future__ import annotations

from semantic.errors import MappingError
from semantic.mapping.ontology import IgnoredAxiom, Ontology, OntologyWarning, load_ontology, parse_ontology
from semantic.mapping.r2rml import (
    LogicalTable,
    MappingSet,
    PredicateObjectMap,
    RefObjectMap,
    TermKind,
    TermMap,
    TermType,
    TriplesMap,
    iri_safe,
    parse_template,
)
from semantic.mapping.r2rml_read import load_mappings, parse_mappings
from semantic.mapping.tbox import Role, TBox
from semantic.mapping.tmappings import Assertion, ForeignKey, TMappings, compile_tmappings
from semantic.mapping.validate import read_foreign_keys, validate_mappings

DATA = "https://w3id.org/esdl/"
"""Base of the IRIs the mappings give catalogue rows (``https://w3id.org/esdl/region/{id}``)."""
ESDL = "https://w3id.org/esdl/ontology#"
"""Namespace of the project ontology."""

__all__ = [
    "DATA",
    "ESDL",
    "Assertion",
    "ForeignKey",
    "IgnoredAxiom",
    "LogicalTable",
    "MappingError",
    "MappingSet",
    "Ontology",
    "OntologyWarning",
    "PredicateObjectMap",
    "RefObjectMap",
    "Role",
    "TBox",
    "TMappings",
    "TermKind",
    "TermMap",
    "TermType",
    "TriplesMap",
    "compile_tmappings",
    "iri_safe",
    "load_mappings",
    "load_ontology",
    "parse_mappings",
    "parse_ontology",
    "parse_template",
    "read_foreign_keys",
    "validate_mappings",
]
