"""The project ontology read with rdflib: the OWL 2 QL axioms T-mappings compile in, and what was left out.

Supported axioms (all between *named* classes and properties):

- ``rdfs:subClassOf``, ``owl:equivalentClass`` (two inclusions);
- ``rdfs:subPropertyOf``, ``owl:equivalentProperty`` (two inclusions);
- ``rdfs:domain``, ``rdfs:range`` (a range that is a datatype is kept apart: literals are in no class);
- ``owl:inverseOf`` and ``owl:SymmetricProperty`` (a property that is its own inverse);
- ``owl:disjointWith``, ``owl:propertyDisjointWith``: kept; they only make data inconsistent, never add answers.

Declarations (``a owl:Class``...) and annotations (labels, comments, DCTERMS, SKOS...) carry no entailment and are
dropped. Statements about individuals (for example a Data Cube structure definition) are returned as
:attr:`Ontology.facts`, for the engine to serve like any other data. Everything else that uses the RDF, RDFS or
OWL vocabulary (class expressions such as unions and restrictions, property chains, transitive or functional
properties, ``owl:sameAs``, imports) is *ignored* and listed in :attr:`Ontology.ignored`, and an
:class:`OntologyWarning` names it: an ignored axiom can only make answers incomplete, never wrong.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from rdflib import OWL, RDF, RDFS, XSD, BNode, Graph, URIRef
from rdflib.term import Node

from semantic.mapping.turtle import shipped, turtle_files, turtle_graph

_DECLARATIONS = frozenset(
    {
        OWL.Class,
        RDFS.Class,
        OWL.ObjectProperty,
        OWL.DatatypeProperty,
        OWL.AnnotationProperty,
        RDF.Property,
        RDFS.Datatype,
        OWL.Ontology,
        OWL.NamedIndividual,
    }
)
_ANNOTATIONS = frozenset(
    {
        RDFS.label,
        RDFS.comment,
        RDFS.seeAlso,
        RDFS.isDefinedBy,
        OWL.versionInfo,
        OWL.versionIRI,
        OWL.priorVersion,
        OWL.backwardCompatibleWith,
        OWL.incompatibleWith,
        OWL.deprecated,
    }
)
_ANNOTATION_NAMESPACES = (
    "http://purl.org/dc/terms/",
    "http://purl.org/dc/elements/1.1/",
    "http://www.w3.org/2004/02/skos/core#",
    "http://purl.org/vocab/vann/",
    "https://schema.org/",
    "http://schema.org/",
)
_VOCABULARY_NAMESPACES = (str(RDF), str(RDFS), str(OWL))
_DATATYPE_NAMESPACES = (str(XSD),)
_DATATYPES = frozenset(
    {RDFS.Literal, RDF.langString, RDF.PlainLiteral, RDF.XMLLiteral, RDF.HTML, RDF.JSON, RDFS.Datatype}
)
_TRIVIAL_SUPERS = frozenset({OWL.Thing, RDFS.Resource, OWL.topObjectProperty, OWL.topDataProperty})


class OntologyWarning(UserWarning):
    """Axioms of an ontology were ignored; the message lists them (see :attr:`Ontology.ignored`)."""


@dataclass(frozen=True)
class IgnoredAxiom:
    """A statement the reader did not use, and why."""

    subject: str
    predicate: str
    object: str
    reason: str

    def __str__(self) -> str:
        return f"{self.subject} {self.predicate} {self.object}: {self.reason}"


@dataclass(frozen=True)
class Ontology:
    """The axioms of an OWL 2 QL ontology, as pairs of IRIs.

    Attributes:
        sub_classes: ``(sub, super)`` class inclusions (equivalences give both directions).
        sub_properties: ``(sub, super)`` property inclusions.
        domains: ``(property, class)``.
        ranges: ``(property, class)`` for class ranges.
        datatype_ranges: ``(property, datatype)``: ranges that are datatypes; they entail nothing about classes.
        inverses: ``(p, q)`` pairs of inverse properties, both directions.
        disjoint_classes: ``(a, b)`` disjoint class pairs (not used for answering).
        disjoint_properties: ``(p, q)`` disjoint property pairs (not used for answering).
        classes: Declared and used classes.
        properties: Declared and used properties.
        facts: Statements about individuals, for the engine to serve as data.
        ignored: Statements the reader did not use, with the reason.
    """

    sub_classes: frozenset[tuple[str, str]] = frozenset()
    sub_properties: frozenset[tuple[str, str]] = frozenset()
    domains: frozenset[tuple[str, str]] = frozenset()
    ranges: frozenset[tuple[str, str]] = frozenset()
    datatype_ranges: frozenset[tuple[str, str]] = frozenset()
    inverses: frozenset[tuple[str, str]] = frozenset()
    disjoint_classes: frozenset[tuple[str, str]] = frozenset()
    disjoint_properties: frozenset[tuple[str, str]] = frozenset()
    classes: frozenset[str] = frozenset()
    properties: frozenset[str] = frozenset()
    facts: tuple[tuple[Node, Node, Node], ...] = ()
    ignored: tuple[IgnoredAxiom, ...] = ()

    def merged(self, other: Ontology) -> Ontology:
        """Both ontologies' axioms (``other``: the data's own, say). A range ``other`` gives as a class that is a
        datatype range here (``geo:asWKT rdfs:range geo:wktLiteral`` in data that does not declare the datatype)
        stays a datatype range: literals are in no class."""
        datatypes = {dt for _, dt in self.datatype_ranges}
        ranges = {r for r in other.ranges if r[1] not in datatypes}
        return Ontology(
            self.sub_classes | other.sub_classes,
            self.sub_properties | other.sub_properties,
            self.domains | other.domains,
            self.ranges | frozenset(ranges),
            self.datatype_ranges | other.datatype_ranges | (other.ranges - ranges),
            self.inverses | other.inverses,
            self.disjoint_classes | other.disjoint_classes,
            self.disjoint_properties | other.disjoint_properties,
            self.classes | other.classes,
            self.properties | other.properties,
            self.facts + other.facts,
            self.ignored + other.ignored,
        )


def _n3(node: Node) -> str:
    return f"<{node}>" if isinstance(node, URIRef) else node.n3()


def _is_vocabulary(node: Node) -> bool:
    return isinstance(node, URIRef) and str(node).startswith(_VOCABULARY_NAMESPACES)


class _Reader:
    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.sub_classes: set[tuple[str, str]] = set()
        self.sub_properties: set[tuple[str, str]] = set()
        self.domains: set[tuple[str, str]] = set()
        self.ranges: set[tuple[str, str]] = set()
        self.datatype_ranges: set[tuple[str, str]] = set()
        self.inverses: set[tuple[str, str]] = set()
        self.disjoint_classes: set[tuple[str, str]] = set()
        self.disjoint_properties: set[tuple[str, str]] = set()
        self.classes: set[str] = set()
        self.properties: set[str] = set()
        self.facts: list[tuple[Node, Node, Node]] = []
        self.ignored: list[IgnoredAxiom] = []
        self.annotation_properties = set(graph.subjects(RDF.type, OWL.AnnotationProperty))
        self.datatypes = set(graph.subjects(RDF.type, RDFS.Datatype))
        self.datatype_properties = set(graph.subjects(RDF.type, OWL.DatatypeProperty))
        self.skipped: set[Node] = set()

    def ignore(self, s: Node, p: Node, o: Node, reason: str) -> None:
        self.ignored.append(IgnoredAxiom(_n3(s), _n3(p), _n3(o), reason))
        if isinstance(o, BNode):
            self.skip_expression(o)

    def skip_expression(self, node: BNode) -> None:
        """Mark the blank nodes of an ignored class expression, so its parts are not reported one by one."""
        todo = [node]
        while todo:
            current = todo.pop()
            if current in self.skipped:
                continue
            self.skipped.add(current)
            todo.extend(o for o in self.graph.objects(current, None) if isinstance(o, BNode))

    def is_datatype(self, node: Node) -> bool:
        return node in _DATATYPES or node in self.datatypes or str(node).startswith(_DATATYPE_NAMESPACES)

    def read(self) -> Ontology:
        # axioms with a class expression first, so the expressions' own triples are recognised as parts of them
        triples = sorted(self.graph, key=lambda t: (not isinstance(t[2], BNode), isinstance(t[0], BNode), t))
        for s, p, o in triples:
            if s in self.skipped:
                continue
            self.triple(s, p, o)
        return Ontology(
            frozenset(self.sub_classes),
            frozenset(self.sub_properties),
            frozenset(self.domains),
            frozenset(self.ranges),
            frozenset(self.datatype_ranges),
            frozenset(self.inverses),
            frozenset(self.disjoint_classes),
            frozenset(self.disjoint_properties),
            frozenset(self.classes),
            frozenset(self.properties),
            tuple(self.facts),
            tuple(self.ignored),
        )

    def triple(self, s: Node, p: Node, o: Node) -> None:
        if p in _ANNOTATIONS or p in self.annotation_properties or str(p).startswith(_ANNOTATION_NAMESPACES):
            return
        if p == RDF.type:
            self.type_statement(s, o)
            return
        named = isinstance(s, URIRef) and isinstance(o, URIRef)
        pair = (str(s), str(o))
        if p in (RDFS.subClassOf, OWL.equivalentClass, OWL.disjointWith):
            if not named:
                self.ignore(s, p, o, "class expressions (restrictions, unions...) are not supported")
                return
            self.classes.update(pair)
            if p == OWL.disjointWith:
                self.disjoint_classes.update({pair, pair[::-1]})
                return
            if o not in _TRIVIAL_SUPERS:
                self.sub_classes.add(pair)
            if p == OWL.equivalentClass and s not in _TRIVIAL_SUPERS:
                self.sub_classes.add(pair[::-1])
        elif p in (RDFS.subPropertyOf, OWL.equivalentProperty, OWL.inverseOf, OWL.propertyDisjointWith):
            if not named:
                self.ignore(s, p, o, "property expressions are not supported")
                return
            self.properties.update(pair)
            if p == OWL.inverseOf:
                self.inverses.update({pair, pair[::-1]})
            elif p == OWL.propertyDisjointWith:
                self.disjoint_properties.update({pair, pair[::-1]})
            else:
                if o not in _TRIVIAL_SUPERS:
                    self.sub_properties.add(pair)
                if p == OWL.equivalentProperty and s not in _TRIVIAL_SUPERS:
                    self.sub_properties.add(pair[::-1])
        elif p in (RDFS.domain, RDFS.range):
            if not named:
                self.ignore(s, p, o, "class expressions (restrictions, unions...) are not supported")
                return
            self.properties.add(str(s))
            if o in _TRIVIAL_SUPERS:
                return
            if p == RDFS.domain:
                self.classes.add(str(o))
                self.domains.add(pair)
            elif self.is_datatype(o) or s in self.datatype_properties:
                self.datatype_ranges.add(pair)
            else:
                self.classes.add(str(o))
                self.ranges.add(pair)
        elif _is_vocabulary(p):
            self.ignore(s, p, o, f"{_n3(p)} is not supported (not OWL 2 QL, or not compiled into the mappings)")
        else:
            self.facts.append((s, p, o))

    def type_statement(self, s: Node, o: Node) -> None:
        if o in _DECLARATIONS:
            if o in (OWL.Class, RDFS.Class) and isinstance(s, URIRef):
                self.classes.add(str(s))
            elif o in (OWL.ObjectProperty, OWL.DatatypeProperty, RDF.Property) and isinstance(s, URIRef):
                self.properties.add(str(s))
        elif o == OWL.SymmetricProperty and isinstance(s, URIRef):
            self.properties.add(str(s))
            self.inverses.add((str(s), str(s)))
        elif _is_vocabulary(o):
            self.ignore(s, RDF.type, o, f"{_n3(o)} is not supported (not OWL 2 QL, or no effect on answers here)")
        else:
            self.facts.append((s, RDF.type, o))


def parse_ontology(source: str | Graph, *, warn: bool = True) -> Ontology:
    """Read an ontology from Turtle text or an rdflib graph.

    Args:
        source: Turtle text, or a graph.
        warn: Emit an :class:`OntologyWarning` listing the ignored statements, if any.

    Raises:
        MappingError: The text is not Turtle.
    """
    graph = turtle_graph(source, "ontology")
    ontology = _Reader(graph).read()
    if warn and ontology.ignored:
        listed = "\n".join(f"  {axiom}" for axiom in ontology.ignored)
        warnings.warn(OntologyWarning(f"{len(ontology.ignored)} ontology statements ignored:\n{listed}"), stacklevel=2)
    return ontology


def default_ontology_paths() -> tuple[Path, ...]:
    """The shipped ontology files (``semantic/ontology/*.ttl``)."""
    return shipped("ontology")


def load_ontology(*paths: str | Path, warn: bool = True) -> Ontology:
    """Read ontology files (by default the shipped ones) into one :class:`Ontology`.

    Raises:
        MappingError: A file is missing or is not Turtle.
    """
    return parse_ontology(turtle_files(paths or default_ontology_paths(), "ontology"), warn=warn)
