"""Stage four: render the IR into one SQLAlchemy Core statement over the quad table and the mapped tables.

Every node becomes a subquery whose columns are ``<var>__<field>`` for the term columns of each variable it
binds (docs/sparql.md). Variables that may be unbound (from OPTIONAL, UNION, VALUES) are tracked, so joins use
SPARQL's compatibility test only where it is needed and plain equality elsewhere. The renderer is made of
stages, one concern each: SQL generation (:mod:`semantic.sparql.sqlgen`), basic graph patterns with the
ontology, the unfolded mappings and signature pruning (:mod:`semantic.sparql.unfold`), solution modifiers and
grouping (:mod:`semantic.sparql.modifiers`), property paths (:mod:`semantic.sparql.paths`), and here the
combining operators (join, OPTIONAL, UNION, MINUS, FILTER, BIND, VALUES) and EXISTS.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from semantic.errors import UnsupportedFeature
from semantic.sparql import ir
from semantic.sparql.expressions import Val, ebv, settled
from semantic.sparql.modifiers import ModifierRenderer
from semantic.sparql.paths import path_pattern
from semantic.sparql.pullup import reads_computed_twice
from semantic.sparql.rel import QUADS, Rel
from semantic.sparql.sqlgen import compatible, static_fields, unbound
from semantic.sparql.terms import FIELDS, SQL_TYPES, TermCols, constant, constant_values, label
from semantic.sparql.unfold import PatternRenderer

ARRAY_VALUES_ROWS = 64
"""VALUES blocks with more rows than this are bound as arrays (:meth:`Renderer._values_as_arrays`)."""


class Renderer(PatternRenderer, ModifierRenderer):
    """Renders a query's IR (the arguments are :class:`semantic.sparql.sqlgen.SqlWriter`'s)."""

    def render(self, node: Any) -> Rel:
        """The subquery of ``node``."""
        method = getattr(self, f"_{type(node).__name__}")
        return method(node)  # type: ignore[no-any-return]

    # -- property paths ------------------------------------------------------------------------------------

    def _PathPattern(self, node: ir.PathPattern) -> Rel:
        return path_pattern(self, node)

    def _Join(self, node: ir.Join) -> Rel:
        left, right = self.render(node.left), self.render(node.right)
        conds, columns, maybe = self.join_parts(left, right)
        joined = left.sub.join(right.sub, sa.and_(sa.true(), *conds))
        return self.finish(columns, self.select(columns).select_from(joined), maybe)

    def _LeftJoin(self, node: ir.LeftJoin) -> Rel:
        fused = self._same_row_optional(node)
        if fused is not None:
            return fused
        left, right = self.render(node.left), self.render(node.right)
        conds, columns, _ = self.join_parts(left, right, outer=True)
        if node.expr is not None:
            env = dict(columns)
            conds.append(ebv(self.compiler(env)(node.expr)))
        joined = left.sub.outerjoin(right.sub, sa.and_(sa.true(), *conds))
        maybe = set(left.maybe) | {v for v in right.variables if v not in left.variables or v in left.maybe}
        return self.finish(columns, self.select(columns).select_from(joined), maybe)

    def _Union(self, node: ir.Union) -> Rel:
        """A UNION of any number of groups (``{A} UNION {B} UNION {C}`` nests in the algebra) as one ``UNION ALL``
        of one SELECT per group: the SQL does not nest deeper with more groups."""
        branches: list[Any] = []
        todo: list[Any] = [node]
        while todo:  # the groups, left to right
            n = todo.pop()
            if isinstance(n, ir.Union):
                todo += [n.right, n.left]
            else:
                branches.append(n)
        rendered = [self.render(b) for b in branches]
        rels = [r for r in rendered if not r.empty]
        if len(rels) <= 1:
            # one group alone: the empty ones' variables are unbound in every solution, which is what a variable
            # the relation does not list is to every parent node (no padding, no new subquery)
            return rels[0] if rels else rendered[0]
        variables = list(dict.fromkeys(v for r in rels for v in r.variables))
        # each variable's terms across the groups (unbound where a group does not bind it), settled together
        terms = {v: settled([r.cols(v) if v in r.variables else unbound() for r in rels]) for v in variables}
        selects = [self.select([(v, terms[v][i]) for v in variables]).select_from(r.sub) for i, r in enumerate(rels)]
        maybe = {v for r in rels for v in r.maybe} | {v for v in variables if any(v not in r.variables for r in rels)}
        sub = sa.union_all(*selects).subquery(self.name("u"))
        # the fields that are the same constant in every group (NULL for a field no group has)
        statics = {}
        for v in variables:
            known = [static_fields(t) for t in terms[v]]
            statics[v] = {f: known[0][f] for f in known[0] if all(f in k and k[f] == known[0][f] for k in known)}
        return Rel(sub, tuple(variables), frozenset(maybe), statics=statics)

    def _Minus(self, node: ir.Minus) -> Rel:
        left, right = self.render(node.left), self.render(node.right)
        shared = [v for v in left.variables if v in right.variables]
        columns = [(v, left.cols(v)) for v in left.variables]
        stmt = self.select(columns).select_from(left.sub)
        if shared:
            both = sa.or_(*(left.cols(v).get("k").is_not(None) & right.cols(v).get("k").is_not(None) for v in shared))
            compat = [compatible(left.cols(v), right.cols(v), True) for v in shared]
            stmt = stmt.where(~sa.exists().select_from(right.sub).where(both, *compat))
        return self.finish(columns, stmt, set(left.maybe))

    def _Filter(self, node: ir.Filter) -> Rel:
        child = self.render(node.child)
        if child.empty:
            return child
        laterals: list[Any] = []
        if child.select is not None and child.inner is not None:  # the condition joins the child's WHERE
            cond = ebv(self.compiler(dict(child.inner), laterals)(node.expr))
            if not laterals:  # (with hoisted parts: a subquery around the child, for them to join)
                columns = list(child.inner.items())
                stmt = child.select.having(cond) if child.grouped else child.select.where(cond)
                return self.finish(columns, stmt, set(child.maybe), plain=True, grouped=child.grouped)
            laterals.clear()
        columns = list(child.env().items())
        cond = ebv(self.compiler(child.env(), laterals)(node.expr))
        source = self.with_laterals(child.sub, laterals)
        stmt = self.select(columns, child.order).select_from(source).where(cond)
        return self.finish(columns, stmt, set(child.maybe), child.ordered)

    def _Extend(self, node: ir.Extend) -> Rel:
        child = self.render(node.child)
        var = str(node.var)
        if var in child.variables:
            raise UnsupportedFeature(f"BIND to ?{var}, already bound")
        laterals: list[Any] = []
        if child.select is not None and child.inner is not None:  # a column more in the child's SELECT
            value = self.compiler(dict(child.inner), laterals)(node.expr).term
            if not laterals:  # (with hoisted parts: a subquery around the child, for them to join)
                stmt = child.select.add_columns(*value.labelled(var))
                inner = [*child.inner.items(), (var, value)]
                return self.finish(inner, stmt, set(child.maybe) | {var}, plain=True, grouped=child.grouped)
            laterals.clear()
        value = self.compiler(child.env(), laterals)(node.expr).term
        if reads_computed_twice([*(value.get(f) for f in FIELDS), *laterals]):
            # PostgreSQL would pull the child up and copy that expression into each place that reads it: in
            # a chain of BINDs that read the one before twice, 2^n copies (the backend ran out of memory)
            child, laterals = self.fenced(child), []
            value = self.compiler(child.env(), laterals)(node.expr).term
        columns = [*child.env().items(), (var, value)]
        stmt = self.select(columns, child.order).select_from(self.with_laterals(child.sub, laterals))
        return self.finish(columns, stmt, set(child.maybe) | {var}, child.ordered)

    def _Values(self, node: ir.Values) -> Rel:
        variables = [str(v) for v in node.variables]
        if len(node.rows) > ARRAY_VALUES_ROWS and variables:
            arrays = self._values_as_arrays(variables, node.rows)
            if arrays is not None:
                return arrays
        selects = []
        for row in node.rows:
            columns = [(v, unbound() if t is None else constant(t)) for v, t in zip(variables, row, strict=True)]
            selects.append(self.select(columns))
        if not selects:
            stmt: Any = self.select([(v, unbound()) for v in variables]).where(sa.false())
        else:
            stmt = selects[0] if len(selects) == 1 else sa.union_all(*selects)
        maybe = {v for i, v in enumerate(variables) if any(row[i] is None for row in node.rows)}
        return Rel(stmt.subquery(self.name("v")), tuple(variables), frozenset(maybe))

    def _values_as_arrays(self, variables: list[str], rows: Any) -> Rel | None:
        """A large VALUES block as ``unnest`` of one bound array per term field: a few parameters whatever the
        number of rows (a UNION of one SELECT per row ran out of stack at 20,000 rows and of parameters at
        100,000). ``None`` where a value has no constant field values (a geometry literal): the UNION then."""
        fields: dict[tuple[str, str], list[Any]] = {}
        unbound = (None,) * (len(FIELDS) - 1)
        for i, v in enumerate(variables):
            terms = [unbound if row[i] is None else constant_values(row[i]) for row in rows]
            if any(t is None for t in terms):  # (a geometry literal)
                return None
            for j, f in enumerate(FIELDS[:-1]):
                fields[(v, f)] = [t[j] for t in terms]  # type: ignore[index]
        keys = list(fields)
        arrays = [
            sa.bindparam(None, fields[key], type_=postgresql.ARRAY(SQL_TYPES[key[1]]), unique=True) for key in keys
        ]
        table = sa.func.unnest(*arrays).table_valued(*(label(v, f) for v, f in keys)).render_derived(self.name("v"))
        stmt = sa.select(*(table.c[label(v, f)] for v, f in keys))
        maybe = {v for i, v in enumerate(variables) if any(row[i] is None for row in rows)}
        no_geometry = {v: {"geom": None} for v in variables}
        return Rel(stmt.subquery(self.name("v")), tuple(variables), frozenset(maybe), statics=no_geometry)

    # -- EXISTS ---------------------------------------------------------------------------------------------

    def exists(self, pattern: Any, env: dict[str, TermCols]) -> Any:
        """``EXISTS`` of ``pattern`` (IR, translated up front: :class:`~semantic.sparql.ir.Exists`) over ``env``."""
        inner = self.render(pattern)
        conds = [compatible(env[v], inner.cols(v), True) for v in inner.variables if v in env]
        # every other FROM it reads is an outer one, also from inside a hoisted LATERAL (where SQLAlchemy's
        # automatic correlation would not look)
        return sa.exists().select_from(inner.sub).where(sa.true(), *conds).correlate_except(inner.sub)


__all__ = ["QUADS", "Rel", "Renderer", "Val", "static_fields"]
