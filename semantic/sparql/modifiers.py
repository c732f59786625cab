"""Solution modifiers and grouping: projection, DISTINCT, ORDER BY, LIMIT/OFFSET, GROUP BY with aggregates."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from rdflib.term import Variable

from semantic.errors import UnsupportedFeature
from semantic.sparql import ir
from semantic.sparql.aggregates import aggregate
from semantic.sparql.rel import Rel
from semantic.sparql.sqlgen import SqlWriter, any_geometry, static_fields, unbound
from semantic.sparql.terms import FIELDS, TermCols
from semantic.sql import case
from semantic.vocab import IRI, LITERAL


class ModifierRenderer(SqlWriter):
    """Renders the solution modifiers and groupings of a query's IR (their children through :meth:`render`)."""

    def render(self, node: Any) -> Rel:
        """The subquery of ``node`` (the renderer's dispatch)."""
        raise NotImplementedError

    def _Project(self, node: ir.Project) -> Rel:
        child = self.render(node.child)
        names = [str(v) for v in node.variables]
        maybe = {v for v in names if v in child.maybe or v not in child.variables}
        if child.select is not None and child.inner is not None:  # the child's SELECT, other columns
            inner = [(v, child.inner[v] if v in child.inner else unbound()) for v in names]
            labelled = [c for v, t in inner for c in t.labelled(v)] or [sa.literal(1).label("one")]
            stmt = child.select.with_only_columns(*labelled)
            return self.finish(inner, stmt, maybe, plain=True, grouped=child.grouped)
        # (the subquery's columns only here: SQLAlchemy builds a subquery's column collection on first use)
        columns = [(v, child.cols(v) if v in child.variables else unbound()) for v in names]
        stmt = self.select(columns, child.order).select_from(child.sub)
        return self.finish(columns, stmt, maybe, child.ordered)

    def _Distinct(self, node: ir.Distinct) -> Rel:
        child = self.render(node.child)
        columns = list(child.env().items())
        if not columns:
            stmt = self.select(columns).select_from(child.sub).limit(1)
            return self.finish(columns, stmt, set(child.maybe))
        keys = [t.get(f) for _, t in columns for f in FIELDS if f != "geom"]
        # one row per distinct solution; its position is the first of its duplicates
        # the geometry follows from the lexical form, so any one of the group's values will do
        grouped = [(v, t.with_(geom=any_geometry(t.get("geom")))) for v, t in columns]
        order = sa.func.min(child.order) if child.ordered else None
        stmt = self.select(grouped, order).select_from(child.sub).group_by(*keys)
        return self.finish(columns, stmt, set(child.maybe), child.ordered)

    def order_keys(
        self, env: dict[str, TermCols], conditions: tuple[tuple[Any, bool], ...], laterals: list[Any] | None = None
    ) -> list[Any]:
        """ORDER BY keys: unbound, blank nodes, IRIs, then literals (numbers by value, dates, then text); large
        parts hoisted into ``laterals`` (see :meth:`compiler`) when given."""
        keys = []
        compiler = self.compiler(env, laterals)
        for expr, descending in conditions:
            t = compiler(expr).term
            for key in (
                case((t.get("k") == 2, 1), (t.get("k") == IRI, 2), (t.get("k") == LITERAL, 3), else_=0),
                t.get("num"),
                t.get("ts"),
                t.get("v"),
            ):
                keys.append(key.desc().nulls_last() if descending else key.asc().nulls_first())
        return keys

    def _OrderBy(self, node: ir.OrderBy) -> Rel:
        child = self.render(node.child)
        columns = list(child.env().items())
        laterals: list[Any] = []
        order = sa.func.row_number().over(order_by=self.order_keys(child.env(), node.conditions, laterals))
        stmt = self.select(columns, order).select_from(self.with_laterals(child.sub, laterals))
        return self.finish(columns, stmt, set(child.maybe), True)

    def _Slice(self, node: ir.Slice) -> Rel:
        child = self.render(node.child)
        columns = list(child.env().items())
        stmt = self.select(columns, child.order).select_from(child.sub)
        if child.ordered:
            stmt = stmt.order_by(child.order)
        stmt = stmt.offset(node.offset or None).limit(node.limit)
        return self.finish(columns, stmt, set(child.maybe), child.ordered)

    def _Group(self, node: ir.Group) -> Rel:
        child = self.render(node.child)
        # over a plain SELECT, the grouping is that SELECT's own (its FROM and WHERE, no subquery around it)
        plain = child.select is not None and child.inner is not None and not child.grouped
        laterals: list[Any] = []
        for _attempt in range(2):  # (with hoisted parts: a subquery around the child, for them to join)
            env = dict(child.inner) if plain and child.inner is not None else child.env()
            laterals.clear()
            columns = self._aggregated(node, env, child, laterals)
            if not (plain and laterals):
                break
            plain = False
        if plain:
            stmt = child.select.with_only_columns(*self.select(columns).selected_columns)
        else:
            stmt = self.select(columns).select_from(self.with_laterals(child.sub, laterals))
        group_by = self._group_keys(node, env)
        if group_by:
            stmt = stmt.group_by(*group_by)
        return self.finish(columns, stmt, {v for v, _ in columns}, plain=True, grouped=True)

    @staticmethod
    def _group_keys(node: ir.Group, env: dict[str, TermCols]) -> list[Any]:
        """The GROUP BY expressions: every field of each key (a computed number has only its value), but those
        that are the same in every row."""
        group_by: list[Any] = []
        for key in node.keys:
            t = env.get(str(key), unbound())
            known = static_fields(t)
            group_by += [t.get(f) for f in FIELDS if f != "geom" and f not in known]
        return group_by

    def _aggregated(
        self, node: ir.Group, env: dict[str, TermCols], child: Rel, laterals: list[Any]
    ) -> list[tuple[str, TermCols]]:
        """The aggregates' columns of a group over ``env``."""
        compiler = self.compiler(env, laterals)
        keys: dict[str, TermCols] = {}
        for key in node.keys:
            if not isinstance(key, Variable):
                raise UnsupportedFeature("GROUP BY an expression")
            keys[str(key)] = env.get(str(key), unbound())
        # rdflib binds grouped variables again through SAMPLE aggregates (then Extend), so keys are not output
        columns: list[tuple[str, TermCols]] = []
        # with GROUP BY keys no group is empty: a variable the child always binds has a value in each
        bound = frozenset(v for v in child.variables if v not in child.maybe) if node.keys else frozenset()
        for var, agg in node.aggregates:
            target = agg.vars
            if agg.name == "Aggregate_Sample" and isinstance(target, Variable) and str(target) in keys:
                # a group key: one value per group (its template's columns are not grouping keys: no Lift)
                columns.append((str(var), keys[str(target)].with_(geom=None, lift=None)))
                continue
            columns.append((str(var), aggregate(agg, compiler, bound)))
        return columns
