"""IRIs and Turtle prefixes shared by the RDF, mapping and ontology tests."""

from __future__ import annotations

from rdflib import URIRef

GEO = "http://www.opengis.net/ont/geosparql#"
QB = "http://purl.org/linked-data/cube#"
MAP = "https://w3id.org/esdl/mapping#"
MAP_EX = "https://example.org/map#"
"""The namespace of the mapping tests' own triples maps."""
MAPPING_PREFIXES = """
@prefix rr: <http://www.w3.org/ns/r2rml#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
@prefix ex: <https://example.org/map#> .
@prefix esdl: <https://w3id.org/esdl/ontology#> .
@prefix geo: <http://www.opengis.net/ont/geosparql#> .
"""
"""Turtle prefixes of the mapping tests' R2RML documents."""

RDF_EX = "http://example.org/"
"""The namespace of the RDF loading tests' data."""
CRS84 = "<http://www.opengis.net/def/crs/OGC/1.3/CRS84>"
EPSG = "<http://www.opengis.net/def/crs/EPSG/0/{}>"


def xsd(name: str) -> URIRef:
    """An XML Schema datatype (rdflib's closed XSD namespace is not imported: pytest would probe it)."""
    return URIRef("http://www.w3.org/2001/XMLSchema#" + name)
