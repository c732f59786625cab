"""The ontology (OWL 2 QL subset, TBox saturation) and the T-mappings compiled from it and the shipped mappings:
entailment over classes, properties, inverses, domains and ranges."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from rdflib import OWL, RDF, RDFS, BNode, Graph, URIRef

from esdl_testing.vocab import GEO, MAP, QB
from esdl_testing.vocab import MAP_EX as EX
from esdl_testing.vocab import MAPPING_PREFIXES as PREFIXES
from semantic.mapping import (
    ESDL,
    MappingError,
    MappingSet,
    OntologyWarning,
    RefObjectMap,
    TermMap,
    TMappings,
    compile_tmappings,
    load_mappings,
    load_ontology,
    parse_mappings,
    parse_ontology,
)
from semantic.mapping.ontology import default_ontology_paths
from semantic.mapping.tbox import Role, TBox
from semantic.mapping.tmappings import Assertion
from semantic.mapping.validate import read_foreign_keys
from semantic.store.db import make_engine


@pytest.fixture(scope="module")
def mappings() -> MappingSet:
    return load_mappings()


@pytest.fixture(scope="module")
def tmappings(mappings: MappingSet) -> TMappings:
    return compile_tmappings(mappings, load_ontology())


@pytest.fixture
def engine(catalog_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(catalog_url)
    yield engine
    engine.dispose()


def maps_of(assertions: tuple[Assertion, ...]) -> set[str]:
    return {a.triples_map.name.removeprefix(MAP).removeprefix(EX) for a in assertions}


# ---------------------------------------------------------------------------------------------------------------
# the ontology


def test_ontology_is_read_without_ignored_axioms() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", OntologyWarning)
        ontology = load_ontology()
    assert ontology.ignored == ()
    assert (ESDL + "Region", GEO + "Feature") in ontology.sub_classes
    assert (GEO + "hasDefaultGeometry", GEO + "hasGeometry") in ontology.sub_properties
    assert (ESDL + "ofCube", ESDL + "Variable") in ontology.domains
    assert (ESDL + "ofCube", ESDL + "Cube") in ontology.ranges
    assert (GEO + "asWKT", GEO + "wktLiteral") in ontology.datatype_ranges
    assert (ESDL + "hasVariable", ESDL + "ofCube") in ontology.inverses
    assert (URIRef(ESDL + "mean"), RDF.type, URIRef(QB + "MeasureProperty")) in ontology.facts
    assert (URIRef(ESDL + "componentRegion"), URIRef(QB + "dimension"), URIRef(ESDL + "region")) in ontology.facts


def test_ontology_stays_in_owl2_ql() -> None:
    """Only named classes and properties in axioms, and no OWL construct outside the supported QL subset."""
    graph = Graph()
    for path in default_ontology_paths():
        graph.parse(path)
    assert not any(isinstance(node, BNode) for triple in graph for node in triple)
    used_owl = {str(p) for p in graph.predicates() if str(p).startswith(str(OWL))}
    used_owl |= {str(o) for o in graph.objects(None, RDF.type) if str(o).startswith(str(OWL))}
    allowed = {
        OWL.Class,
        OWL.ObjectProperty,
        OWL.DatatypeProperty,
        OWL.Ontology,
        OWL.inverseOf,
        OWL.equivalentProperty,
        OWL.equivalentClass,
        OWL.disjointWith,
        OWL.versionInfo,
    }
    assert used_owl <= {str(a) for a in allowed}
    used_rdfs = {str(p) for p in graph.predicates() if str(p).startswith(str(RDFS))}
    assert used_rdfs <= {str(RDFS[n]) for n in ("subClassOf", "subPropertyOf", "domain", "range", "label", "comment")}


def test_unsupported_axioms_are_listed_and_warned() -> None:
    text = """
@prefix owl: <http://www.w3.org/2002/07/owl#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix ex: <https://example.org/o#> .
ex:A rdfs:subClassOf [ owl:unionOf ( ex:B ex:C ) ] .
ex:D rdfs:subClassOf [ a owl:Restriction ; owl:onProperty ex:p ; owl:someValuesFrom ex:E ] .
ex:p a owl:TransitiveProperty .
ex:q owl:propertyChainAxiom ( ex:p ex:p ) .
ex:B rdfs:subClassOf ex:C ; rdfs:label "B" .
ex:s a owl:SymmetricProperty .
ex:x a ex:B ; ex:p ex:y .
"""
    with pytest.warns(OntologyWarning, match="4 ontology statements ignored") as record:
        ontology = parse_ontology(text)
    reasons = [str(axiom) for axiom in ontology.ignored]
    assert len(reasons) == 4, reasons
    assert any("<https://example.org/o#A> <http://www.w3.org/2000/01/rdf-schema#subClassOf>" in r for r in reasons)
    assert any("TransitiveProperty" in r for r in reasons)
    assert any("propertyChainAxiom" in r for r in reasons)
    assert "TransitiveProperty" in str(record[0].message)
    assert ontology.sub_classes == {("https://example.org/o#B", "https://example.org/o#C")}
    assert ("https://example.org/o#s", "https://example.org/o#s") in ontology.inverses
    assert len(ontology.facts) == 2


def test_tbox_saturation() -> None:
    tbox = TBox(load_ontology())
    assert tbox.super_classes(ESDL + "Region") >= {ESDL + "Region", GEO + "Feature", GEO + "SpatialObject"}
    assert tbox.super_classes("http://www.opengis.net/ont/sf#MultiPolygon") >= {GEO + "Geometry", GEO + "SpatialObject"}
    assert Role(ESDL + "hasVariable", True) in tbox.super_roles(Role(ESDL + "ofCube"))
    assert Role(GEO + "hasGeometry") in tbox.super_roles(Role(GEO + "defaultGeometry"))
    assert tbox.classes_of_role(Role(ESDL + "hasVariable")) >= {ESDL + "Cube"}  # the range of its inverse
    assert tbox.classes_of_role(Role(GEO + "hasMetricArea")) == {GEO + "SpatialObject"}
    assert {ESDL + "Region", ESDL + "DerivedFeature", GEO + "FeatureCollection"} <= tbox.sub_classes(GEO + "Feature")
    assert {Role(ESDL + "mean"), Role(ESDL + "validCount")} <= tbox.sub_roles(ESDL + "measure")
    assert Role(ESDL + "ofCube", True) in tbox.sub_roles(ESDL + "hasVariable")
    assert Role(ESDL + "ofCube") in tbox.roles_of_class(ESDL + "Variable")
    assert Role(ESDL + "ofCube", True) in tbox.roles_of_class(ESDL + "Cube")


# ---------------------------------------------------------------------------------------------------------------
# T-mappings over the shipped mappings


def test_features_are_regions_derived_features_and_cubes(tmappings: TMappings) -> None:
    features = tmappings.assertions_for_class(GEO + "Feature")
    assert {"Region", "DerivedFeature", "Cube"} <= maps_of(features)
    region = next(a for a in features if a.triples_map.name == MAP + "Region")
    assert region.subject.value == "https://w3id.org/esdl/region/{id}" and region.entailed
    assert region.not_null == () and region.exists is None
    # the cube is a feature by the domain of geo:hasDefaultGeometry (its footprint)
    cube = next(a for a in features if a.triples_map.name == MAP + "Cube")
    assert cube.subject.value == "https://w3id.org/esdl/cube/{id}" and cube.entailed and not cube.not_null


def test_spatial_objects_include_geometries(tmappings: TMappings) -> None:
    spatial = tmappings.assertions_for_class(GEO + "SpatialObject")
    assert {"RegionGeometry", "DerivedFeatureGeometry", "CubeFootprint"} <= maps_of(spatial)
    assert {"Region", "DerivedFeature", "Cube"} <= maps_of(spatial)
    # the range of hasDefaultGeometry gives the same geometry IRIs from the same table: kept once
    geometries = tmappings.assertions_for_class(GEO + "Geometry")
    assert len([a for a in geometries if a.subject.value.endswith("/region/{id}/geometry")]) == 1


def test_has_geometry_includes_default_geometries(tmappings: TMappings) -> None:
    default = tmappings.assertions_for_property(GEO + "hasDefaultGeometry")
    has = tmappings.assertions_for_property(GEO + "hasGeometry")
    assert len(default) == 3
    assert {(a.subject, a.object) for a in default} <= {(a.subject, a.object) for a in has}
    assert all(a.entailed for a in has)
    # GeoSPARQL 1.0's spelling is the same property
    assert len(tmappings.assertions_for_property(GEO + "defaultGeometry")) == 3


def test_measures_are_all_measure_properties(tmappings: TMappings) -> None:
    measures = tmappings.assertions_for_property(ESDL + "measure")
    columns = {a.object.value for a in measures if isinstance(a.object, TermMap)}
    assert columns == {"mean", "min", "max", "std", "valid_count", "covered_area"}
    assert maps_of(measures) == {"ZonalStatistic"}
    summaries = tmappings.assertions_for_property(ESDL + "summaryStatistic")
    assert {a.object.value for a in summaries if isinstance(a.object, TermMap)} == {
        "valid_fraction",
        "min",
        "max",
        "mean",
        "std",
    }
    assert maps_of(summaries) == {"Variable"}


def test_inverse_and_super_properties(tmappings: TMappings) -> None:
    (has_variable,) = tmappings.assertions_for_property(ESDL + "hasVariable")
    assert has_variable.subject.value == "https://w3id.org/esdl/cube/{cube_id}"
    assert isinstance(has_variable.object, TermMap)
    assert has_variable.object.value == "https://w3id.org/esdl/variable/{id}"
    (part_of,) = tmappings.assertions_for_property("http://purl.org/dc/terms/isPartOf")
    assert part_of.subject.value == "https://w3id.org/esdl/variable/{id}"


def test_asserted_classes_subsume_domain_classes(tmappings: TMappings) -> None:
    """esdl:ofCube's domain gives variables again, but rr:class esdl:Variable already gives them all."""
    variables = [a for a in tmappings.assertions_for_class(ESDL + "Variable") if a.triples_map.name == MAP + "Variable"]
    assert len(variables) == 1 and not variables[0].entailed and variables[0].not_null == ()
    observations = tmappings.assertions_for_class(QB + "Observation")
    assert maps_of(observations) == {"ZonalStatistic"}


def test_foreign_keys_remove_redundant_class_assertions(
    engine: sa.Engine, mappings: MappingSet, tmappings: TMappings
) -> None:
    """Without foreign keys, regions named by zonal statistics (range of esdl:region) are scanned too."""
    by_range = [a for a in tmappings.assertions_for_class(ESDL + "Region") if a.triples_map.name != MAP + "Region"]
    assert [(a.subject.value, a.not_null) for a in by_range] == [
        ("https://w3id.org/esdl/region/{region_id}", ("time", "variable_id"))
    ]
    pruned = compile_tmappings(mappings, load_ontology(), read_foreign_keys(engine, mappings))
    assert maps_of(pruned.assertions_for_class(ESDL + "Region")) == {"Region"}
    assert maps_of(pruned.assertions_for_class(GEO + "Feature")) == {"Region", "DerivedFeature", "Cube"}
    assert maps_of(pruned.assertions_for_class(ESDL + "Variable")) == {"Variable"}
    assert maps_of(pruned.assertions_for_class(ESDL + "Cube")) == {"Cube"}


# ---------------------------------------------------------------------------------------------------------------
# T-mappings: domains, ranges and inverses across joins


def test_domain_range_and_inverse_over_a_join() -> None:
    mappings = parse_mappings(
        PREFIXES
        + """
ex:Var rr:logicalTable [ rr:tableName "variable" ] ;
    rr:subjectMap [ rr:template "https://example.org/v/{id}" ] ;
    rr:predicateObjectMap [ rr:predicate esdl:ofCube ;
        rr:objectMap [ rr:parentTriplesMap ex:Cube ; rr:joinCondition [ rr:child "cube_id" ; rr:parent "id" ] ] ] ;
    rr:predicateObjectMap [ rr:predicate esdl:units ; rr:objectMap [ rr:column "units" ] ] .
ex:Cube rr:logicalTable [ rr:tableName "cube" ] ;
    rr:subjectMap [ rr:template "https://example.org/c/{id}" ] .
"""
    )
    tm = compile_tmappings(mappings, load_ontology())
    join = RefObjectMap(EX + "Cube", (("cube_id", "id"),))
    back = RefObjectMap(EX + "Var", (("id", "cube_id"),))
    # ?v a esdl:Variable: rows of variable with a matching cube (domain of esdl:ofCube), or with units
    variables = {(a.triples_map.name, a.exists, a.not_null) for a in tm.assertions_for_class(ESDL + "Variable")}
    assert variables == {(EX + "Var", join, ()), (EX + "Var", None, ("units",))}
    # ?c a esdl:Cube: cubes with a variable (range of esdl:ofCube)
    (cube,) = tm.assertions_for_class(ESDL + "Cube")
    assert (cube.triples_map.name, cube.subject.value, cube.exists) == (EX + "Cube", "https://example.org/c/{id}", back)
    # ?c esdl:hasVariable ?v: the join read from the cube's side
    (has_variable,) = tm.assertions_for_property(ESDL + "hasVariable")
    assert has_variable.triples_map.name == EX + "Cube" and has_variable.object == back


def test_graphs_carry_over_to_entailed_triples() -> None:
    mappings = parse_mappings(
        PREFIXES
        + """
ex:R rr:logicalTable [ rr:tableName "region" ] ;
    rr:subjectMap [ rr:template "https://example.org/r/{id}" ; rr:class esdl:Region ; rr:graph ex:g ] .
"""
    )
    tm = compile_tmappings(mappings, load_ontology())
    (feature,) = tm.assertions_for_class(GEO + "Feature")
    assert feature.graphs == (TermMap.constant_iri(EX + "g"),)


def test_non_constant_predicates_and_classes_are_refused() -> None:
    dynamic = (
        PREFIXES
        + """
ex:M rr:logicalTable [ rr:tableName "region" ] ; rr:subjectMap [ rr:template "https://example.org/{id}" ] ;
    rr:predicateObjectMap [ rr:predicateMap [ rr:template "https://example.org/p/{kind}" ] ; rr:object 1 ] .
"""
    )
    with pytest.raises(MappingError, match=f"triples map <{EX}M>: a predicate map with rr:template cannot be"):
        compile_tmappings(parse_mappings(dynamic), load_ontology())
    typed = (
        PREFIXES
        + """
@prefix rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#> .
ex:M rr:logicalTable [ rr:tableName "region" ] ; rr:subjectMap [ rr:template "https://example.org/{id}" ] ;
    rr:predicateObjectMap [ rr:predicate rdf:type ; rr:objectMap [ rr:template "https://example.org/c/{kind}" ] ] .
"""
    )
    with pytest.raises(MappingError, match="use rr:class"):
        compile_tmappings(parse_mappings(typed), load_ontology())
