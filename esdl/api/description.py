"""The SPARQL 1.1 Service Description of the endpoint (``GET /sparql`` without a query): result formats, the
GeoSPARQL conformance classes, the entailment regime and the extension functions."""

from __future__ import annotations

from rdflib import RDF, RDFS, BNode, Graph, Literal, Namespace, URIRef

from esdl.api.results import FORMATS
from esdl.api.settings import SparqlSettings

SD = Namespace("http://www.w3.org/ns/sparql-service-description#")
GEOSPARQL_CONF = "http://www.opengis.net/spec/geosparql/1.1/conf/"
ENTAILMENT_RDFS = "http://www.w3.org/ns/entailment/RDFS"
TRUNCATED_HEADER = "X-Esdl-Truncated"
"""The response header that says a result was cut at the row limit."""


def service_description(endpoint: str, functions: list[str], settings: SparqlSettings, rdfs: bool = True) -> Graph:
    """The SPARQL 1.1 Service Description of the endpoint at ``endpoint`` (``rdfs``: basic graph patterns of the
    default graph are matched under RDFS entailment, with the shipped ontology and the loaded data's axioms; the
    engine of the virtual graph does, one over the quad table alone does not)."""
    graph = Graph()
    graph.bind("sd", SD)
    service = BNode()
    graph.add((service, RDF.type, SD.Service))
    graph.add((service, SD.endpoint, URIRef(endpoint)))
    graph.add((service, SD.supportedLanguage, SD.SPARQL11Query))
    for fmt in FORMATS:
        graph.add((service, SD.resultFormat, URIRef(fmt.iri)))
    # the GeoSPARQL 1.1 functions: Simple Features, Egenhofer and RCC8 relations, and the non-topological ones
    for conf in ("geometry-extension", "geometry-topology-extension"):
        graph.add((service, SD.feature, URIRef(GEOSPARQL_CONF + conf)))
    if rdfs:  # GeoSPARQL's RDFS entailment and query-rewrite extensions (docs/sparql.md, "Entailment")
        graph.add((service, SD.defaultEntailmentRegime, URIRef(ENTAILMENT_RDFS)))
        for conf in ("rdfs-entailment-extension", "query-rewrite-extension"):
            graph.add((service, SD.feature, URIRef(GEOSPARQL_CONF + conf)))
    for function in sorted(functions):
        graph.add((service, SD.extensionFunction, URIRef(function)))
        graph.add((URIRef(function), RDF.type, SD.Function))
    dataset = BNode()
    graph.add((service, SD.defaultDataset, dataset))
    graph.add((dataset, RDF.type, SD.Dataset))
    default = BNode()
    graph.add((dataset, SD.defaultGraph, default))
    graph.add((default, RDF.type, SD.Graph))
    graph.add(
        (
            service,
            RDFS.comment,
            Literal(
                "The catalogue tables (through R2RML mappings) and the loaded RDF files, rewritten into SQL on "
                f"PostGIS. Limits: statement timeout {settings.timeout_s:g} s, at most {settings.max_rows} "
                f"solutions (more: the first ones and the header {TRUNCATED_HEADER}: true). GET /sparql/explain "
                "gives a query's SQL.",
                lang="en",
            ),
        )
    )
    return graph


__all__ = ["TRUNCATED_HEADER", "service_description"]
