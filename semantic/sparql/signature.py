"""What the quad table holds, so that the rewriter can leave out its branches of a pattern it cannot match.

``rdf_signature`` (kept by triggers on ``rdf_quad``, migration ``0004``) lists, per graph, the predicates of the
loaded quads and the classes of their ``rdf:type`` quads; ``rdf_signature_state.version`` grows, in the same
transaction, whenever a key appears or goes. The engine renders a query for one version of the signature and
checks the version in the statement that starts the query's transaction (docs/sparql.md): a load committed
since makes it render the query again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from rdflib import URIRef
from rdflib.term import Node

from semantic.geosparql.properties import GEOMETRY_PROPERTIES, GEOMETRY_VALUE, HAS_SERIALIZATION, SERIALIZATIONS
from semantic.vocab import RDF_TYPE

_READ = sa.text(
    "SELECT st.version, s.p, s.cls FROM rdf_signature_state AS st "
    "LEFT JOIN rdf_signature AS s ON s.graph = '' WHERE st.id = 1"
)


@dataclass(frozen=True)
class QuadSignature:
    """The default graph's part of ``rdf_signature`` at one version.

    Attributes:
        version: ``rdf_signature_state.version`` it was read at.
        predicates: Predicates of the default graph's quads.
        classes: Classes of the default graph's ``rdf:type`` quads with an IRI object.
        axioms: The RDFS axioms the default graph's quads state (``semantic.sparql.rdfs.read_axioms``, read by
            the engine with the signature): they join the shipped ontology in the T-mappings.
    """

    version: int
    predicates: frozenset[str]
    classes: frozenset[str]
    axioms: frozenset[tuple[str, str, str]] = frozenset()

    def may_match(self, tbox: Any, predicate: Node, obj: Node) -> bool:
        """Whether the default graph's quads can match a pattern with this predicate and object once the ontology
        ``tbox`` is applied (subproperties, inverses, subclasses, domains and ranges; see ``entailed_quads``)."""
        if not self.predicates:
            return False
        if not isinstance(predicate, URIRef):
            return True
        if str(predicate) == RDF_TYPE:
            if not isinstance(obj, URIRef):
                # (an entailed type of any class: asserted types, or subjects of properties with a domain/range)
                return RDF_TYPE in self.predicates or any(r.iri in self.predicates for r, _ in tbox.typing_roles())
            target = str(obj)
            if not self.classes.isdisjoint(tbox.sub_classes(target)):
                return True
            return any(role.iri in self.predicates for role in tbox.roles_of_class(target))
        if str(predicate) == GEOMETRY_VALUE:  # the rewrite rule's geometries: any serialisation's
            return any(r.iri in self.predicates for r in tbox.sub_roles(HAS_SERIALIZATION))
        if str(predicate) in GEOMETRY_PROPERTIES and not self.predicates.isdisjoint(SERIALIZATIONS):
            return True  # computed from a loaded geometry (see entailed_quads)
        return any(role.iri in self.predicates for role in tbox.sub_roles(str(predicate)))


def read_signature(conn: sa.Connection) -> QuadSignature:
    """The signature and its version, read in one statement (one snapshot)."""
    rows = conn.execute(_READ).all()
    if not rows:
        raise RuntimeError("rdf_signature_state has no row: the schema is not at migration 0004 or later")
    predicates = {r.p for r in rows if r.p is not None}
    classes = {r.cls for r in rows if r.p == RDF_TYPE and r.cls}
    return QuadSignature(int(rows[0].version), frozenset(predicates), frozenset(classes))
