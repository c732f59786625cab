"""T-mappings: the ontology's hierarchy compiled into the mappings, once, when they are loaded.

The ontology is saturated first (:class:`TBox`): every class gets all its super classes, every property all its
super properties (inverses included: ``esdl:ofCube`` ⊑ ``esdl:hasVariable``⁻), and every property the classes its
domain and range entail. Then each triple a mapping asserts is turned into every triple it entails, as a flat
list of :class:`Assertion` objects: a query for ``?x a geo:Feature`` is answered by the union of
:meth:`TMappings.assertions_for_class`, with no reasoning left for query time.

An assertion reads rows of its triples map's logical table and produces the triple ``subject predicate object``
for each row where the subject and the object are not NULL and, in addition:

- every column in :attr:`Assertion.not_null` is not NULL: a class entailed by a domain holds only for rows that
  have the property's object (``?v a esdl:Variable`` from ``esdl:ofCube`` needs ``cube_id``);
- when :attr:`Assertion.exists` is set, a row of that referencing object map's parent matches (a class entailed
  by a domain or a range across a join).

Assertions are deduplicated by logical table, subject, predicate, object, graphs and conditions, and one that
another makes redundant (same triple, fewer conditions) is dropped. Given the database's foreign keys, a class
assertion whose subjects are, by a foreign key, among another's is dropped too: ``region/{region_id}`` of
``zonal_stat`` (a ``geo:Feature`` by the range of ``esdl:region``) names only regions ``region/{id}`` already
gives, so ``?x a geo:Feature`` does not scan the zonal statistics.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field

from semantic.errors import MappingError
from semantic.geosparql.literals import GEO
from semantic.geosparql.properties import AS_WKT, GEOMETRY_PROPERTIES, GEOMETRY_VALUE, HAS_SERIALIZATION
from semantic.mapping.ontology import Ontology
from semantic.mapping.r2rml import (
    RDF_TYPE,
    MappingSet,
    ObjectMap,
    RefObjectMap,
    TermKind,
    TermMap,
    TermType,
    TriplesMap,
)
from semantic.mapping.tbox import Role, TBox


@dataclass(frozen=True)
class Assertion:
    """One compiled mapping assertion: a triple pattern produced from rows of one logical table.

    Attributes:
        triples_map: Whose logical table the rows come from (subject and object term maps read its columns).
        subject: The subject term map.
        predicate: The predicate IRI (``rdf:type`` for class assertions).
        object: The object: a term map on the same rows (a constant IRI for a class assertion), or a
            referencing object map (the subjects of another triples map's rows, joined).
        graphs: Graph maps (empty: the default graph).
        exists: Only rows with a matching row of this referencing object map's parent.
        not_null: Only rows where these columns (sorted) are not NULL.
        entailed: Whether the ontology, rather than the mapping itself, gives this triple.
    """

    triples_map: TriplesMap
    subject: TermMap
    predicate: str
    object: ObjectMap
    graphs: tuple[TermMap, ...] = ()
    exists: RefObjectMap | None = None
    not_null: tuple[str, ...] = ()
    entailed: bool = field(default=False, compare=False)

    @property
    def is_class(self) -> bool:
        """Whether this is a class assertion (``rdf:type`` with a constant class)."""
        return self.predicate == RDF_TYPE

    @property
    def class_iri(self) -> str | None:
        """The class of a class assertion."""
        if self.is_class and isinstance(self.object, TermMap) and self.object.kind is TermKind.CONSTANT:
            return self.object.value
        return None

    def triple_key(self) -> tuple[Hashable, ...]:
        """What makes two assertions produce the same triples (given the same conditions)."""
        return (self.triples_map.logical_table, self.subject, self.predicate, self.object, self.graphs)

    def subsumes(self, other: Assertion) -> bool:
        """Whether this assertion produces every triple ``other`` does (same pattern, weaker conditions)."""
        return (
            self.triple_key() == other.triple_key()
            and self.exists in (None, other.exists)
            and set(self.not_null) <= set(other.not_null)
        )


@dataclass(frozen=True)
class ForeignKey:
    """A foreign key: every non-NULL ``columns`` value of ``table`` is a ``referred_columns`` value of
    ``referred_table`` (columns paired in order)."""

    table: str
    columns: tuple[str, ...]
    referred_table: str
    referred_columns: tuple[str, ...]


def _columns(term: ObjectMap) -> frozenset[str]:
    return frozenset(term.columns) if isinstance(term, TermMap) else frozenset()


def _not_null(term: ObjectMap, other: ObjectMap) -> tuple[str, ...]:
    """The columns of ``term`` that ``other`` does not already require."""
    return tuple(sorted(_columns(term) - _columns(other)))


class TMappings:
    """Mappings with the ontology compiled in: lookups by class and by property.

    Args:
        mappings: The R2RML mappings.
        ontology: The ontology whose hierarchy is compiled in.
        foreign_keys: The database's foreign keys between mapped tables
            (:func:`semantic.mapping.validate.read_foreign_keys`); they only remove redundant assertions.

    Raises:
        MappingError: A mapping the rewriter cannot reason over: a predicate map that is not a constant, or an
            ``rdf:type`` whose object is not a constant IRI (use ``rr:class``).
    """

    def __init__(self, mappings: MappingSet, ontology: Ontology, foreign_keys: Iterable[ForeignKey] = ()) -> None:
        self.mappings = mappings
        self.ontology = ontology
        self.foreign_keys = frozenset(foreign_keys)  # (kept: the data's own axioms recompile with them)
        self.tbox = TBox(ontology)
        produced: list[Assertion] = []
        for tm in mappings:
            produced.extend(self._compile(tm))
        self.assertions: tuple[Assertion, ...] = _prune_included(_prune(produced), self.foreign_keys)
        by_class: dict[str, list[Assertion]] = defaultdict(list)
        by_property: dict[str, list[Assertion]] = defaultdict(list)
        for a in self.assertions:
            class_iri = a.class_iri
            if class_iri is not None:
                by_class[class_iri].append(a)
            by_property[a.predicate].append(a)
        self._by_class = {k: tuple(v) for k, v in by_class.items()}
        self._by_property = {k: tuple(v) for k, v in by_property.items()}
        # the rewrite rule's internal geometry values are looked up by their predicate only: a pattern with a
        # variable predicate (``?g ?p ?o``) reads ``assertions`` and must not answer with them
        self.assertions = tuple(a for a in self.assertions if a.predicate != GEOMETRY_VALUE)

    def assertions_for_class(self, iri: str) -> tuple[Assertion, ...]:
        """The assertions giving instances of class ``iri`` (``?x a <iri>``), entailed ones included."""
        return self._by_class.get(str(iri), ())

    def assertions_for_property(self, iri: str) -> tuple[Assertion, ...]:
        """The assertions giving triples with predicate ``iri``; for ``rdf:type``, every class assertion."""
        return self._by_property.get(str(iri), ())

    @property
    def classes(self) -> frozenset[str]:
        """Every class with at least one assertion."""
        return frozenset(self._by_class)

    @property
    def properties(self) -> frozenset[str]:
        """Every predicate with at least one assertion (``rdf:type`` included)."""
        return frozenset(self._by_property)

    # ---------------------------------------------------------------------------------------------------------
    # compilation

    def _compile(self, tm: TriplesMap) -> Iterable[Assertion]:
        ctx = f"triples map <{tm.name}>"
        for cls in tm.classes:
            yield from self._class(tm, tm.subject, cls, tm.graphs, None, (), entailed=False)
        for pom in tm.predicate_object_maps:
            graphs = tm.graphs + pom.graphs
            for pm in pom.predicates:
                if pm.kind is not TermKind.CONSTANT:
                    raise MappingError(f"{ctx}: a predicate map with rr:{pm.kind.value} cannot be reasoned over")
                for om in pom.objects:
                    if pm.value == RDF_TYPE:
                        if not (isinstance(om, TermMap) and om.kind is TermKind.CONSTANT):
                            raise MappingError(
                                f"{ctx}: rdf:type with an object that is not a constant class cannot be reasoned "
                                "over (use rr:class)"
                            )
                        yield from self._class(tm, tm.subject, om.value, graphs, None, (), entailed=False)
                    else:
                        yield from self._property(tm, pm.value, om, graphs)
                        if self._is_serialization(pm.value) and isinstance(om, TermMap) and om.kind is TermKind.COLUMN:
                            # the geometry value the query-rewrite rule reads: one per column, however many
                            # serialisations map it (the duplicates are pruned)
                            value = TermMap(TermKind.COLUMN, om.value, TermType.LITERAL, GEO + "wktLiteral")
                            yield from self._property(tm, GEOMETRY_VALUE, value, graphs)
                        if pm.value == AS_WKT and isinstance(om, TermMap) and om.kind is TermKind.COLUMN:
                            # a geometry column: GeoSPARQL's geometry properties, computed from it
                            for prop, (datatype, _) in GEOMETRY_PROPERTIES.items():
                                derived = TermMap(
                                    TermKind.COLUMN, om.value, TermType.LITERAL, datatype, geometry_property=prop
                                )
                                yield from self._property(tm, prop, derived, graphs)

    def _is_serialization(self, predicate: str) -> bool:
        return Role(HAS_SERIALIZATION) in self.tbox.super_roles(Role(predicate))

    def _class(
        self,
        tm: TriplesMap,
        subject: TermMap,
        cls: str,
        graphs: tuple[TermMap, ...],
        exists: RefObjectMap | None,
        not_null: tuple[str, ...],
        *,
        entailed: bool,
    ) -> Iterable[Assertion]:
        for sup in sorted(self.tbox.super_classes(cls)):
            term = TermMap.constant_iri(sup)
            yield Assertion(tm, subject, RDF_TYPE, term, graphs, exists, not_null, entailed or sup != cls)

    def _classes_of(
        self,
        tm: TriplesMap,
        subject: TermMap,
        role: Role,
        graphs: tuple[TermMap, ...],
        exists: RefObjectMap | None,
        not_null: tuple[str, ...],
    ) -> Iterable[Assertion]:
        for cls in sorted(self.tbox.classes_of_role(role)):
            yield Assertion(tm, subject, RDF_TYPE, TermMap.constant_iri(cls), graphs, exists, not_null, True)

    def _property(
        self, tm: TriplesMap, predicate: str, om: ObjectMap, graphs: tuple[TermMap, ...]
    ) -> Iterable[Assertion]:
        subject = tm.subject
        for role in sorted(self.tbox.super_roles(Role(predicate))):
            entailed = role != Role(predicate)
            if not role.inverse:
                yield Assertion(tm, subject, role.iri, om, graphs, entailed=entailed)
            elif isinstance(om, RefObjectMap):
                parent = self.mappings[om.parent_triples_map]
                yield Assertion(parent, parent.subject, role.iri, om.swapped(tm.name), graphs, entailed=True)
            elif om.term_type is not TermType.LITERAL:
                yield Assertion(tm, om, role.iri, subject, graphs, entailed=True)
        # the subject is in the domain's classes, the object in the range's
        if isinstance(om, RefObjectMap):
            parent = self.mappings[om.parent_triples_map]
            yield from self._classes_of(tm, subject, Role(predicate), graphs, om, ())
            back = om.swapped(tm.name)
            yield from self._classes_of(parent, parent.subject, Role(predicate, True), graphs, back, ())
        else:
            yield from self._classes_of(tm, subject, Role(predicate), graphs, None, _not_null(om, subject))
            if om.term_type is not TermType.LITERAL:
                yield from self._classes_of(tm, om, Role(predicate, True), graphs, None, _not_null(subject, om))


def _prune(assertions: list[Assertion]) -> tuple[Assertion, ...]:
    """Drop duplicates and assertions another one subsumes, keeping the mapping's own ones."""
    groups: dict[tuple[Hashable, ...], list[Assertion]] = defaultdict(list)
    order: list[tuple[Hashable, ...]] = []
    # asserted before entailed, then those about the triples map's own subjects (stable otherwise)
    for a in sorted(assertions, key=lambda a: (a.entailed, a.subject != a.triples_map.subject)):
        key = a.triple_key()
        if key not in groups:
            order.append(key)
        kept = groups[key]
        if any(k.subsumes(a) for k in kept):
            continue
        kept[:] = [k for k in kept if not a.subsumes(k)]
        kept.append(a)
    position = {id(a): i for i, a in enumerate(assertions)}
    result = [a for key in order for a in groups[key]]
    return tuple(sorted(result, key=lambda a: position[id(a)]))


def _included(a: Assertion, b: Assertion, foreign_keys: frozenset[ForeignKey]) -> bool:
    """Whether every subject of class assertion ``a`` is, by a foreign key, a subject of ``b`` (same class)."""
    ta, tb = a.triples_map.logical_table, b.triples_map.logical_table
    if ta.table is None or tb.table is None or ta == tb or b.exists is not None or b.not_null or a.graphs != b.graphs:
        return False
    sa_, sb = a.subject, b.subject
    if sa_.kind is not TermKind.TEMPLATE or sb.kind is not TermKind.TEMPLATE or sa_.term_type != sb.term_type:
        return False
    pa, pb = sa_.parts, sb.parts
    if len(pa) != len(pb):
        return False
    pairs: dict[str, str] = {}
    for x, y in zip(pa, pb, strict=True):
        if isinstance(x, str) or isinstance(y, str):
            if x != y:
                return False
        elif pairs.setdefault(x.name, y.name) != y.name:
            return False
    wanted = frozenset(pairs.items())
    return any(
        fk.table == ta.table
        and fk.referred_table == tb.table
        and frozenset(zip(fk.columns, fk.referred_columns, strict=True)) == wanted
        for fk in foreign_keys
    )


def _prune_included(assertions: tuple[Assertion, ...], foreign_keys: frozenset[ForeignKey]) -> tuple[Assertion, ...]:
    if not foreign_keys:
        return assertions
    by_class: dict[str | None, list[Assertion]] = defaultdict(list)
    for a in assertions:
        by_class[a.class_iri].append(a)
    return tuple(
        a
        for a in assertions
        if a.class_iri is None or not any(_included(a, b, foreign_keys) for b in by_class[a.class_iri])
    )


def compile_tmappings(mappings: MappingSet, ontology: Ontology, foreign_keys: Iterable[ForeignKey] = ()) -> TMappings:
    """Compile ``ontology`` into ``mappings`` (see :class:`TMappings`)."""
    return TMappings(mappings, ontology, foreign_keys)
