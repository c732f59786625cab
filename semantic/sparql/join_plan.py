"""Join planning for basic graph patterns over the quad table and the mapped tables (:class:`VirtualBGP`): the
combinations of sources searched (templates that cannot meet are dropped early), each built as one plain join
with template columns compared directly, and self-joins on a table's unique key eliminated."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from rdflib import Literal, URIRef
from rdflib.term import Node, Variable

from semantic.mapping.r2rml import RefObjectMap, TermKind, TermMap, TermType
from semantic.sparql.mapped import MappedSources, MappedTable, not_null, same_term
from semantic.sparql.terms import TermCols, constant


@dataclass
class _Binding:
    """How one combination binds a variable: its term columns and, for IRI templates, the template's literal
    parts and the SQL values of its placeholders (so equal templates compare columns, not strings)."""

    cols: TermCols
    signature: tuple[str, ...] | None = None
    values: tuple[Any, ...] = ()
    types: tuple[str, ...] = ()
    table: str | None = None  # alias name, for self-join elimination
    term_map: TermMap | None = None
    columns: dict[str, Any] = field(default_factory=dict)


def _signature(tm: TermMap) -> tuple[str, ...] | None:
    if tm.kind is not TermKind.TEMPLATE or tm.term_type is TermType.LITERAL:
        return None
    return tuple(p if isinstance(p, str) else "\x00" for p in tm.parts)


def _shape(tm: Any) -> Any:
    """What a term map's terms look like, for the search: an IRI template's signature, ``"literal"``, or ``None``
    (anything: a column of IRIs, a constant)."""
    if not isinstance(tm, TermMap):
        return None
    if tm.term_type is TermType.LITERAL:
        return "literal"
    return _signature(tm)


def _meet(shapes: dict[str, Any], term: Node, tm: Any) -> bool:
    """Record ``tm``'s shape for ``term`` (a variable) in ``shapes``; ``False`` when it cannot meet the shape
    recorded before (two clashing templates, a template and a literal) or the constant ``term``."""
    shape = _shape(tm)
    if not isinstance(term, Variable):
        if isinstance(term, Literal):
            return shape is None or shape == "literal"
        if isinstance(term, URIRef) and isinstance(shape, tuple) and tm.invertible:
            return tm.invert(str(term)) is not None
        return shape != "literal" if isinstance(term, URIRef) else True
    if shape is None:
        return True
    known = shapes.get(str(term))
    if known is None:
        shapes[str(term)] = shape
        return True
    if known == "literal" or shape == "literal":
        return known == shape
    return not _clash(known, shape)


_RESERVED = frozenset(":/?#[]@!$&'()*+,;=")


def _skeleton(signature: tuple[str, ...]) -> str:
    """The reserved characters of a template's literal texts, in order: those of every IRI it produces, as a
    placeholder's value is IRI-safe (integers, times and percent-encoded text have no reserved character)."""
    return "".join(c for part in signature if part != "\x00" for c in part if c in _RESERVED)


def _clash(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Two IRI templates can never produce the same IRI: their leading literal texts disagree, or their IRIs'
    reserved characters do (``.../feature/{id}`` and ``.../feature/{id}/geometry``)."""
    if not a or not b:
        return False
    if not (a[0].startswith(b[0]) or b[0].startswith(a[0])):
        return True
    return _skeleton(a) != _skeleton(b)


class VirtualBGP:
    """A basic graph pattern over the quad table and the mapped tables as a union of plain joins.

    Every combination of sources (the quad table or one assertion per triple) becomes one SELECT. Combinations
    whose IRI templates cannot meet are dropped; variables bound by the same template compare the template's
    columns; assertions on the same table that bind one variable (or one constant IRI) with the same injective
    template over a unique key of the table read one row: one scan of the table (self-join elimination).

    Args:
        sources: The mapped sources (with the tables' unique keys).
        quad: Builds a quad-table source for one triple: ``(from item, term columns by position, conditions)``.
        quad_may_match: Whether the quad table can match a triple at all (combinations with a quad-table
            source for a triple it cannot match are left out).
        max_combinations: Above this many surviving combinations, the caller falls back to a union per triple.
    """

    def __init__(
        self,
        sources: MappedSources,
        quad: Any,
        quad_may_match: Any = None,
        max_combinations: int = 64,
    ) -> None:
        self.sources = sources
        self.quad = quad
        self.quad_may_match = quad_may_match or (lambda triple: True)
        self.max_combinations = max_combinations

    def combinations(self, triples: tuple[tuple[Node, Node, Node], ...]) -> list[tuple[Any, ...]] | None:
        """The combinations of sources (``None`` for the quad table, else an assertion; one per triple) whose IRI
        templates can meet, found by a search that drops a partial combination as soon as two of its templates
        for one variable clash (so a pattern of many triples does not enumerate the product); ``None`` when more
        than ``max_combinations`` survive."""
        choices = [
            [
                *([None] if self.quad_may_match((s, p, o)) else []),
                *(a for a in self.sources.assertions(p, o) if not isinstance(a.object, RefObjectMap)),
            ]
            for s, p, o in triples
        ]
        # the most constrained triples first; the search fills ``chosen`` in that order
        order = sorted(range(len(triples)), key=lambda i: len(choices[i]))
        out: list[tuple[Any, ...]] = []
        chosen: list[Any] = [None] * len(triples)

        def search(depth: int, shapes: dict[str, Any]) -> bool:
            if depth == len(order):
                out.append(tuple(chosen))
                return len(out) <= self.max_combinations
            i = order[depth]
            s, _, o = triples[i]
            for assertion in choices[i]:
                grown = dict(shapes)
                if assertion is not None and not (
                    _meet(grown, s, assertion.subject) and _meet(grown, o, assertion.object)
                ):
                    continue
                chosen[i] = assertion
                if not search(depth + 1, grown):
                    return False
            return True

        if not search(0, {}):
            return None
        return out

    def same_rows(self, triples: Any, combination: Any) -> list[int]:
        """For each triple, the first triple whose assertion reads the same row of the same table (itself when
        none): both bind one variable, or one IRI, with the same injective template over the same columns, and
        those columns hold a unique key of the table."""
        group = list(range(len(triples)))

        def find(i: int) -> int:
            while group[i] != i:
                i = group[i]
            return i

        seen: dict[tuple[Any, ...], int] = {}
        for i, ((s, _, o), assertion) in enumerate(zip(triples, combination, strict=True)):
            if assertion is None:
                continue
            lt = assertion.triples_map.logical_table
            keys = self.sources.unique_keys.get(lt.key, ())
            for term, tm in ((s, assertion.subject), (o, assertion.object)):
                if not isinstance(term, Variable | URIRef) or not isinstance(tm, TermMap):
                    continue
                signature = _signature(tm)
                if signature is None or not tm.invertible:
                    continue
                columns = tm.placeholders
                if not any(set(k) <= set(columns) for k in keys):
                    continue
                key = (type(term).__name__, str(term), lt.key, signature, columns)
                if key in seen:
                    a, b = find(i), find(seen[key])
                    group[max(a, b)] = min(a, b)
                else:
                    seen[key] = i
        return [find(i) for i in range(len(triples))]

    def build(
        self, triples: Any, combination: Any, split: int | None = None
    ) -> tuple[Any, list[Any], dict[str, TermCols], list[Any], dict[str, TermCols]] | None:
        """The FROM item, conditions and variable bindings of one combination; ``None`` when it cannot match.

        With ``split``, triples from that index on are an OPTIONAL part that reads only rows of the first part
        (:meth:`same_rows`): their conditions and the variables they add come separately (the last two items),
        and a condition that can never hold there is ``false`` instead of dropping the combination.
        """
        env: dict[str, _Binding] = {}
        added: dict[str, _Binding] = {}
        froms: list[Any] = []
        where: list[Any] = []
        optional: list[Any] = []
        tables: dict[int, MappedTable] = {}  # by the first triple of a same-row group
        memo: dict[tuple[TermMap, str], _Binding] = {}  # a term map's binding on a table, built once
        rows = self.same_rows(triples, combination)
        for i, ((s, p, o), assertion) in enumerate(zip(triples, combination, strict=True)):
            late = split is not None and i >= split
            conds = optional if late else where
            if assertion is None:
                if late:
                    return None  # the quad table's rows are not the first part's
                source, cols, quad_conds = self.quad((s, p, o))
                froms.append(source)
                conds += quad_conds
                positions = [(s, _Binding(cols[0])), (p, _Binding(cols[1])), (o, _Binding(cols[2]))]
            else:
                table = tables.get(rows[i])
                if table is None:
                    if late:
                        return None  # an OPTIONAL triple that reads a row of its own
                    table = tables[rows[i]] = self.sources._table(assertion)
                    froms.append(table.source)
                conds += [table.source.c[c].is_not(None) for c in assertion.not_null]
                subject = self._binding(assertion.subject, table, memo)
                obj = self._binding(assertion.object, table, memo)
                for binding, tm in ((subject, assertion.subject), (obj, assertion.object)):
                    if late:
                        conds.append(not_null(binding.cols))  # the term stays NULL where the part does not match
                    else:  # every row of the pattern binds it: its kind is a constant
                        binding.cols, bound = self.sources.bound(tm, table, binding.cols)
                        conds.append(bound)
                positions = [(s, subject), (p, _Binding(constant(URIRef(assertion.predicate)))), (o, obj)]
            for term, binding in positions:
                if isinstance(term, Variable):
                    known = env.get(str(term)) or added.get(str(term))
                    if known is None:
                        (added if late else env)[str(term)] = binding
                        continue
                    cond = self._equal(known, binding)
                else:
                    cond = self._constant(term, binding)
                if cond is False:
                    if not late:
                        return None
                    cond = sa.false()
                if cond is not True:
                    conds.append(cond)
        if any(isinstance(c, sa.sql.elements.False_) for c in where):
            return None  # two constants that differ
        where = [c for c in where if not isinstance(c, sa.sql.elements.True_)]
        optional = [c for c in optional if not isinstance(c, sa.sql.elements.True_)]
        joined: Any = froms[0]
        for f in froms[1:]:
            joined = joined.join(f, sa.true())
        return (
            joined,
            where,
            {v: b.cols for v, b in env.items()},
            optional,
            {v: b.cols for v, b in added.items()},
        )

    def _binding(self, tm: TermMap, table: MappedTable, memo: dict[tuple[TermMap, str], _Binding]) -> _Binding:
        """The binding of ``tm`` on ``table``'s rows: one per term map and table (``memo``), however many triples
        of the pattern read it (the subject of a same-row group)."""
        key = (tm, table.source.name)
        if key not in memo:
            memo[key] = self._new_binding(tm, table)
        return memo[key]

    def _new_binding(self, tm: TermMap, table: MappedTable) -> _Binding:
        signature = _signature(tm)
        if signature is None:
            return _Binding(self.sources.term(tm, table))
        values = tuple(table.source.c[c] for c in tm.placeholders)
        types = tuple(table.types.get(c, "text") for c in tm.placeholders)
        columns = {c: table.source.c[c] for c in tm.placeholders}
        return _Binding(self.sources.term(tm, table), signature, values, types, table.source.name, tm, columns)

    @staticmethod
    def _constant(term: Node, binding: _Binding) -> Any:
        """A constant against a binding: an IRI that an invertible template produces becomes conditions on the
        template's columns (so indexes apply); an IRI it cannot produce drops the combination."""
        tm = binding.term_map
        if tm is None or not isinstance(term, URIRef) or not tm.invertible:
            return same_term(constant(term), binding.cols)
        values = tm.invert(str(term))
        if values is None:
            return False
        conds = []
        for column, sql_type in zip(tm.placeholders, binding.types, strict=True):
            col = binding.columns[column]
            value = values[column]
            if sql_type.startswith(("integer", "bigint", "smallint")):
                if not value.lstrip("-").isdigit():
                    return False
                conds.append(col == int(value))
            elif sql_type.startswith(("text", "character")):
                conds.append(col == value)
            else:
                return same_term(constant(term), binding.cols)
        return sa.and_(*conds)

    @staticmethod
    def _equal(a: _Binding, b: _Binding) -> Any:
        """``True`` (same row), ``False`` (can never match), or the SQL condition."""
        if a.signature is not None and b.signature is not None:
            if a.signature == b.signature:
                if a.table == b.table and all(x is y for x, y in zip(a.values, b.values, strict=True)):
                    return True
                pairs = zip(a.values, b.values, a.types, b.types, strict=True)
                # same SQL type: compare the columns themselves (indexes apply); otherwise their text
                return sa.and_(
                    *(x == y if tx == ty else x.cast(sa.Text()) == y.cast(sa.Text()) for x, y, tx, ty in pairs)
                )
            if _clash(a.signature, b.signature):
                return False
        return same_term(a.cols, b.cols)
