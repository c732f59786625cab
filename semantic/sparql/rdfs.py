"""RDFS entailment from the data: the loaded axioms joined to the shipped ontology, and entailed types over the quad
table when the class is a variable (``?x a ?c``).

``rdfs:subClassOf``, ``rdfs:subPropertyOf``, ``rdfs:domain`` and ``rdfs:range`` quads of the default graph are
axioms (:func:`read_axioms`): the engine reads them with the quad signature (whose version grows whenever such a
quad comes or goes, migration ``0010``) and translates with T-mappings compiled from the shipped ontology and
them (:func:`with_axioms`, kept per set of axioms), for the catalogue tables and the quad table alike.

With a constant class the entailed view lists the class's subclasses and the properties whose domain or range is
below it (``mapped.entailed_quads``). With a variable class every entailed type has to be produced: each asserted
type quad with its class's super classes (rdfs9, rdfs11), and each subject (object) of a property with a domain
(range) with the domain's (range's) classes and their super classes (rdfs2, rdfs3, through rdfs7). The ontology's
pairs are joined as a ``VALUES`` list, so that a type is entailed by one join however many classes there are (or,
for a deep hierarchy, as the closure of the direct pairs computed by a recursive CTE: :data:`MAX_LISTED_PAIRS`).
"""

from __future__ import annotations

import dataclasses
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from rdflib import Graph, URIRef

from semantic.mapping.ontology import parse_ontology
from semantic.mapping.tmappings import TMappings
from semantic.sparql.signature import QuadSignature
from semantic.sparql.signature import read_signature as read_quad_signature
from semantic.sparql.terms import IRI, LITERAL

_TEXT = sa.Text()
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
AXIOM_PREDICATES = tuple(RDFS + p for p in ("subClassOf", "subPropertyOf", "domain", "range"))
"""The predicates whose quads in the default graph are axioms (those migration 0010 watches)."""

Axioms = frozenset[tuple[str, str, str]]

_READ = sa.text(
    "SELECT s, p, o FROM rdf_quad WHERE graph = '' AND p IN :predicates AND s_kind = :iri AND o_kind = :iri"
).bindparams(sa.bindparam("predicates", expanding=True))


def read_axioms(conn: sa.Connection) -> Axioms:
    """The axioms the default graph's quads state (between IRIs: a class expression is a blank node)."""
    rows = conn.execute(_READ, {"predicates": list(AXIOM_PREDICATES), "iri": IRI}).all()
    return frozenset((r.s, r.p, r.o) for r in rows)


def read_signature(conn: sa.Connection) -> QuadSignature:
    """The quad signature with the axioms the default graph states (read only where it holds any)."""
    signature = read_quad_signature(conn)
    if signature.predicates.isdisjoint(AXIOM_PREDICATES):
        return signature
    return dataclasses.replace(signature, axioms=read_axioms(conn))


_KEPT = 8  # sets of axioms kept per base (a few loads' worth: compiling takes about 5 ms)
_compiled: weakref.WeakKeyDictionary[Any, OrderedDict[Axioms, Any]] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def with_axioms(mapped: Any, axioms: Axioms) -> Any:
    """``mapped`` (the shipped mappings' :class:`~semantic.sparql.mapped.MappedSources`) with the T-mappings
    compiled again from its ontology and ``axioms``; ``mapped`` itself when there are none."""
    if not axioms or mapped is None:
        return mapped
    with _lock:
        kept = _compiled.setdefault(mapped, OrderedDict())
        hit = kept.get(axioms)
        if hit is not None:
            kept.move_to_end(axioms)
            return hit
    graph = Graph()
    for s, p, o in axioms:
        graph.add((URIRef(s), URIRef(p), URIRef(o)))
    base = mapped.tmappings
    ontology = base.ontology.merged(parse_ontology(graph, warn=False))
    out = type(mapped)(TMappings(base.mappings, ontology, base.foreign_keys), mapped.column_types, mapped.unique_keys)
    with _lock:
        kept[axioms] = out
        while len(kept) > _KEPT:
            kept.popitem(last=False)
    return out


MAX_LISTED_PAIRS = 2_000
"""Above this many ``(sub, super)`` class pairs the closure is computed in the query (a recursive CTE over the direct
pairs) instead of listed: a chain of n classes has n(n-1)/2 pairs, 124,750 for 500 — megabytes of ``VALUES``."""


def _class_pairs(tbox: Any, pairs: tuple[tuple[str, str], ...]) -> Any:
    """The ``(sub, sup)`` pairs of distinct classes where ``sub`` is included in ``sup``, as a FROM item: listed, or
    the transitive closure of the ontology's direct inclusions (``UNION``: it ends on a cycle of inclusions)."""
    columns = (sa.column("sub", _TEXT), sa.column("sup", _TEXT))
    if len(pairs) <= MAX_LISTED_PAIRS:
        return sa.values(*columns, name="rdfs_sup").data(list(pairs))
    direct = sorted({(sub, sup) for sub, sup in tbox.ontology.sub_classes if sub != sup})
    edges = sa.select(sa.values(*columns, name="rdfs_edge").data(direct)).cte("rdfs_edges")
    closure = sa.select(edges.c.sub, edges.c.sup).cte("rdfs_closure", recursive=True)
    step = sa.select(closure.c.sub, edges.c.sup).join(edges, closure.c.sup == edges.c.sub)
    closure = closure.union(step)
    return sa.select(closure.c.sub, closure.c.sup).where(closure.c.sub != closure.c.sup).subquery("rdfs_sup")


def type_branches(tbox: Any, quads: Any, select: Callable[..., Any], rdf_type: str) -> list[Any]:
    """The selects whose union is every type triple, asserted or entailed, of the quad table.

    Args:
        tbox: The saturated ontology (:class:`~semantic.mapping.tbox.TBox`).
        quads: The quad table.
        select: Builds a select of the quad table's columns from an alias, with columns overridden by keyword.
        rdf_type: The ``rdf:type`` IRI.

    Returns:
        The asserted type quads, then the super classes of asserted types, then the classes typing roles give;
        the caller unions them (a set: one triple however many ways entail it).
    """
    nulls = {k: sa.null() for k in ("o_dt", "o_lang", "o_num", "o_ts", "o_geom")}
    q = quads.alias()
    branches = [select(q).where(q.c.p == rdf_type)]
    pairs = tbox.entailed_class_pairs()
    if pairs:
        q = quads.alias()
        sup = _class_pairs(tbox, pairs)
        branches.append(
            select(q, o=sup.c.sup)
            .select_from(q.join(sup, q.c.o == sup.c.sub))
            .where(q.c.p == rdf_type, q.c.o_kind == IRI)
        )
    typing = tbox.typing_roles()
    for inverse in (False, True):
        rows = [(role.iri, cls) for role, cls in typing if role.inverse is inverse]
        if not rows:
            continue
        q = quads.alias()
        by = sa.values(sa.column("p", _TEXT), sa.column("cls", _TEXT), name="rdfs_inv" if inverse else "rdfs_dom")
        by = by.data(rows)
        subject = {"s_kind": q.c.o_kind, "s": q.c.o} if inverse else {}
        stmt = select(q, **subject, p=rdf_type, o_kind=IRI, o=by.c.cls, **nulls).select_from(
            q.join(by, q.c.p == by.c.p)
        )
        branches.append(stmt.where(q.c.o_kind != LITERAL) if inverse else stmt)
    return branches


__all__ = ["AXIOM_PREDICATES", "Axioms", "read_axioms", "read_signature", "type_branches", "with_axioms"]
