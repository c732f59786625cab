"""The saturated hierarchy of an ontology (OWL 2 QL's class and property inclusions) that the T-mappings compile
into the mappings: every class with all its super classes, every property with all its super properties
(inverses included), and the classes each property's domain and range entail."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from semantic.mapping.ontology import Ontology


@dataclass(frozen=True, order=True)
class Role:
    """A property, or its inverse (``inverse=True``: the pairs of ``iri`` read object to subject)."""

    iri: str
    inverse: bool = False

    def inverted(self) -> Role:
        """The inverse role."""
        return Role(self.iri, not self.inverse)


_Concept = tuple[str, str | Role]  # ("class", iri) or ("exists", role): ∃role, the subjects of a role


def _closure(start: object, successors: dict[object, set[object]]) -> set[object]:
    seen = {start}
    todo = [start]
    while todo:
        for nxt in successors.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


class TBox:
    """The saturated hierarchy of an ontology (DL-Lite_R: OWL 2 QL's class and property inclusions).

    Args:
        ontology: The axioms.
    """

    def __init__(self, ontology: Ontology) -> None:
        self.ontology = ontology
        role_succ: dict[object, set[object]] = defaultdict(set)
        for sub, sup in ontology.sub_properties:
            role_succ[Role(sub)].add(Role(sup))
            role_succ[Role(sub, True)].add(Role(sup, True))
        for p, q in ontology.inverses:
            role_succ[Role(p)].add(Role(q, True))
            role_succ[Role(p, True)].add(Role(q))
        self._role_succ = role_succ
        concept_succ: dict[object, set[object]] = defaultdict(set)
        for sub, sup in ontology.sub_classes:
            concept_succ[("class", sub)].add(("class", sup))
        for prop, cls in ontology.domains:
            concept_succ[("exists", Role(prop))].add(("class", cls))
        for prop, cls in ontology.ranges:
            concept_succ[("exists", Role(prop, True))].add(("class", cls))
        for role, super_roles in role_succ.items():
            for super_role in super_roles:
                concept_succ[("exists", role)].add(("exists", super_role))
        self._concept_succ = concept_succ
        self._super_roles: dict[Role, frozenset[Role]] = {}
        self._super_concepts: dict[object, frozenset[str]] = {}
        self._class_pairs: tuple[tuple[str, str], ...] | None = None
        self._typing_roles: tuple[tuple[Role, str], ...] | None = None

    def super_roles(self, role: Role) -> frozenset[Role]:
        """Every role ``role`` is included in, itself included."""
        if role not in self._super_roles:
            self._super_roles[role] = frozenset(r for r in _closure(role, self._role_succ) if isinstance(r, Role))
        return self._super_roles[role]

    def _named_supers(self, concept: _Concept) -> frozenset[str]:
        if concept not in self._super_concepts:
            reached = _closure(concept, self._concept_succ)
            self._super_concepts[concept] = frozenset(
                str(c[1]) for c in reached if isinstance(c, tuple) and c[0] == "class"
            )
        return self._super_concepts[concept]

    def super_classes(self, iri: str) -> frozenset[str]:
        """Every class the instances of class ``iri`` belong to, ``iri`` included."""
        return self._named_supers(("class", iri))

    def classes_of_role(self, role: Role) -> frozenset[str]:
        """Every class the subjects of ``role`` belong to (domains; ranges for an inverse role)."""
        return self._named_supers(("exists", role))

    def sub_classes(self, iri: str) -> frozenset[str]:
        """Every named class whose instances are instances of ``iri``, ``iri`` included."""
        named = {iri} | {c for pair in self.ontology.sub_classes for c in pair}
        return frozenset(c for c in named if iri in self.super_classes(c))

    def sub_roles(self, iri: str) -> frozenset[Role]:
        """Every role included in property ``iri`` (an inverse role ``q``⁻ when ``q`` is an inverse of it)."""
        props = {iri} | {p for pair in (*self.ontology.sub_properties, *self.ontology.inverses) for p in pair}
        roles = {Role(p, inv) for p in props for inv in (False, True)}
        return frozenset(r for r in roles if Role(iri) in self.super_roles(r))

    def roles_of_class(self, iri: str) -> frozenset[Role]:
        """Every role whose subjects are instances of ``iri`` (``Role(p)``: a domain; ``Role(p, True)``: a range)."""
        props = {p for pairs in (self.ontology.domains, self.ontology.ranges) for p, _ in pairs}
        props |= {p for pair in (*self.ontology.sub_properties, *self.ontology.inverses) for p in pair}
        roles = {Role(p, inv) for p in props for inv in (False, True)}
        return frozenset(r for r in roles if iri in self.classes_of_role(r))

    def entailed_class_pairs(self) -> tuple[tuple[str, str], ...]:
        """Every ``(sub, super)`` pair of distinct named classes where the instances of ``sub`` are instances of
        ``super`` (``?x a ?c`` with the class a variable: an asserted type also gives each pair's super class)."""
        if self._class_pairs is None:
            named = {c for pair in self.ontology.sub_classes for c in pair}
            self._class_pairs = tuple(sorted((c, sup) for c in named for sup in self.super_classes(c) if sup != c))
        return self._class_pairs

    def typing_roles(self) -> tuple[tuple[Role, str], ...]:
        """Every ``(role, class)`` pair where the subjects of ``role`` are instances of ``class`` (domains; ranges
        for an inverse role), through super properties and super classes."""
        if self._typing_roles is None:
            props = {p for pairs in (self.ontology.domains, self.ontology.ranges) for p, _ in pairs}
            props |= {p for pair in (*self.ontology.sub_properties, *self.ontology.inverses) for p in pair}
            roles = sorted({Role(p, inv) for p in props for inv in (False, True)})
            self._typing_roles = tuple((r, c) for r in roles for c in sorted(self.classes_of_role(r)))
        return self._typing_roles


__all__ = ["Role", "TBox"]
