"""SQL generation: what every stage of the renderer, and the property paths, build SQL with.

:class:`SqlWriter` holds a rendering's state (the dataset, the mapped tables, the quad signature, fresh names)
and offers the small public interface that the pattern stages (:mod:`semantic.sparql.unfold`,
:mod:`semantic.sparql.modifiers`, :mod:`semantic.sparql.render`) and :mod:`semantic.sparql.paths` use: fresh
names, the graph condition of a quad-table alias, binding a variable, a SELECT of term columns, a finished
subquery (:class:`Rel`), joins' compatibility conditions, and an expression compiler over an environment.
"""

from __future__ import annotations

from itertools import count
from typing import Any

import sqlalchemy as sa
from rdflib.term import Node, Variable

from semantic.sparql.expressions import Compiler, Val, settled, term_equal
from semantic.sparql.rel import Rel
from semantic.sparql.terms import FIELDS, UNKNOWN, TermCols, static
from semantic.sql import case
from semantic.vocab import IRI


def compatible(a: TermCols, b: TermCols, maybe: bool) -> Any:
    """SPARQL compatibility of two bindings of one variable (unbound is compatible with anything)."""
    same = term_equal(a, b)
    return sa.or_(a.get("k").is_(None), b.get("k").is_(None), same) if maybe else same


def merged(a: TermCols, b: TermCols) -> TermCols:
    """The binding of a variable after a join: the left one where bound, else the right one (a field that is the
    same constant on both sides stays that constant: a computed number on both sides stays one)."""
    a, b = settled([a, b])
    fields = []
    for f in FIELDS:
        x = static(a, f)
        same = x is not UNKNOWN and x == static(b, f)
        fields.append(a.get(f) if same else case((a.get("k").is_not(None), a.get(f)), else_=b.get(f)))
    return TermCols(*fields)


class SqlWriter:
    """SQL generation for a query's IR: fresh names, the graph rules, bindings, and finished subqueries
    (:class:`Rel`); the public interface that the renderer's stages and the property paths build on.

    Args:
        default_graphs: Graphs merged into the default graph (``FROM``).
        named_graphs: Graphs ``GRAPH ?g`` ranges over (``FROM NAMED``).
        dataset: The query names its dataset: the default graph is the merge of ``default_graphs`` alone and the
            named graphs are ``named_graphs`` alone (either may be empty); otherwise the stored default graph
            (and the mapped tables) and every named graph.
        functions: Extension functions by IRI for the expression compiler.
        mapped: The mapped tables (``MappedSources``), part of the default graph; ``None``: the quad table alone.
        signature: What the quad table holds (``QuadSignature``): the quad table's branches of a pattern in the
            virtual graph that it cannot match are left out; ``None``: every pattern may match.
        base: The query's base IRI (``IRI()`` resolves against it).
    """

    def __init__(
        self,
        default_graphs: tuple[str, ...] = (),
        named_graphs: tuple[str, ...] = (),
        functions: dict[str, Any] | None = None,
        mapped: Any = None,
        signature: Any = None,
        base: str | None = None,
        dataset: bool = False,
    ) -> None:
        self.dataset = dataset
        self.default_graphs = default_graphs
        self.named_graphs = named_graphs
        self.functions = functions or {}
        self.mapped = mapped  # MappedSources: the catalogue tables, part of the default graph
        self.signature = signature
        self.base = base
        self._names = count()

    def name(self, prefix: str) -> str:
        """A fresh SQL name (an alias, a subquery's name) starting with ``prefix``."""
        return f"{prefix}{next(self._names)}"

    def compiler(self, env: dict[str, TermCols], laterals: list[Any] | None = None) -> Compiler:
        """An expression compiler over ``env`` that can render EXISTS patterns; with ``laterals``, one that hoists
        large sub-expressions into ``LATERAL`` subqueries it appends there, for the caller to join (in order)
        after the FROM that ``env`` reads (:meth:`with_laterals`)."""
        hoist = None
        if laterals is not None:

            def hoist(val: Val) -> Val:
                return self._hoist(val, laterals)

        return Compiler(env, exists=self.exists, functions=self.functions, base=self.base, hoist=hoist)

    def _hoist(self, val: Val, laterals: list[Any]) -> Val:
        """``val`` computed once per row in a ``LATERAL (SELECT ... OFFSET 0)`` (the OFFSET keeps PostgreSQL from
        pulling the subquery up, which would copy the expression back into every place that reads it), and read
        from its columns; the fields that are constants or absent stay as they are (what the rewriter knows)."""
        term = val.term
        hoisted = [f for f in FIELDS if static(term, f) is UNKNOWN]
        columns = [term.get(f).label(f) for f in hoisted]
        if val.boolean is not None:
            columns.append(sa.sql.elements.Grouping(val.boolean).label("b"))
        lateral = sa.select(*columns).correlate_except(None).offset(0).lateral(self.name("h"))
        laterals.append(lateral)
        fields = {f: lateral.c[f] if f in hoisted else getattr(term, f) for f in FIELDS}
        return Val(TermCols(**fields, shape=term.shape, lift=term.lift), None if val.boolean is None else lateral.c.b)

    def fenced(self, rel: Rel) -> Rel:
        """``rel`` behind ``OFFSET 0``: PostgreSQL computes its columns once per row instead of pulling it up."""
        sub = sa.select(rel.sub).offset(0).subquery(self.name("f"))
        return Rel(sub, rel.variables, rel.maybe, rel.ordered, shapes=rel.shapes, statics=rel.statics)

    @staticmethod
    def with_laterals(source: Any, laterals: list[Any]) -> Any:
        """``source`` joined with the hoisted subqueries (``LATERAL``: each reads the ones before it)."""
        for lateral in laterals:
            source = source.join(lateral, sa.true())
        return source

    def finish(
        self,
        columns: list[tuple[str, TermCols]],
        stmt: Any,
        maybe: set[str],
        ordered: bool = False,
        plain: bool = False,
        grouped: bool = False,
    ) -> Rel:
        """The Rel of ``stmt``, whose columns are ``columns`` labelled; ``plain``: a SELECT that later nodes may
        extend (see ``Rel.select``)."""
        sub = stmt.subquery(self.name("n"))
        shapes = {v: t.shape for v, t in columns if t.shape is not None}
        statics = {v: static_fields(t) for v, t in columns}
        extendable = plain and not ordered
        return Rel(
            sub,
            tuple(v for v, _ in columns),
            frozenset(maybe),
            ordered,
            shapes=shapes,
            select=stmt if extendable else None,
            inner=dict(columns) if extendable else None,
            grouped=grouped and extendable,
            statics=statics,
        )

    def graph_condition(self, alias: Any, graph: Node | None, env: dict[str, TermCols], where: list[Any]) -> None:
        """Append to ``where`` the conditions that put quad-table ``alias`` in ``graph`` (``None``: the default
        graph; a variable is bound in ``env``), by the query's dataset."""
        col = alias.c.graph
        if graph is None:
            where.append(col.in_(list(self.default_graphs)) if self.dataset else col == "")
            return
        where.append(col != "")
        if self.dataset:
            where.append(col.in_(list(self.named_graphs)))
        term = TermCols(sa.literal(IRI, sa.SmallInteger()), col)
        if isinstance(graph, Variable):
            self.bind(str(graph), term, env, where)
        else:
            where.append(col == str(graph))

    @staticmethod
    def bind(var: str, cols: TermCols, env: dict[str, TermCols], where: list[Any]) -> None:
        """Bind ``var`` to ``cols`` in ``env``, or, when it is bound already, append the equality to ``where``."""
        if var in env:
            where.append(term_equal(env[var], cols))
        else:
            env[var] = cols

    def virtual(self, graph: Node | None) -> bool:
        """Whether patterns in this graph also match the mapped tables (the default graph, without FROM)."""
        return self.mapped is not None and graph is None and not self.dataset

    def join_parts(
        self, left: Rel, right: Rel, outer: bool = False
    ) -> tuple[list[Any], list[tuple[str, TermCols]], set[str]]:
        """The join of two subqueries: its conditions on the shared variables, its columns (a shared variable
        merged where either side may leave it unbound) and its possibly unbound variables; ``outer``: ``right``
        is the null-extended side of a LEFT JOIN."""
        conds, columns = [], []
        shared = [v for v in left.variables if v in right.variables]
        rcols = right.raw if outer else right.cols  # an outer join's right side: NULL where no row matched
        for v in left.variables:
            if v in shared:
                unsure = v in left.maybe or v in right.maybe
                conds.append(compatible(left.cols(v), rcols(v), unsure))
                columns.append((v, merged(left.cols(v), rcols(v)) if unsure else left.cols(v)))
            else:
                columns.append((v, left.cols(v)))
        columns += [(v, rcols(v)) for v in right.variables if v not in shared]
        # a shared variable is certainly bound after the join if either side binds it for sure
        maybe = {
            v for v in left.maybe | right.maybe if not (v in shared and (v not in left.maybe or v not in right.maybe))
        }
        return conds, columns, maybe

    def select(self, columns: list[tuple[str, TermCols]], order: Any = None) -> Any:
        """A SELECT of ``columns``' term columns labelled ``<var>__<field>`` (and ``order`` as ``__ord``)."""
        cols = [c for v, t in columns for c in t.labelled(v)]
        if order is not None:
            cols.append(order.label("__ord"))
        return sa.select(*(cols or [sa.literal(1).label("one")]))

    def exists(self, pattern: Any, env: dict[str, TermCols]) -> Any:
        """``EXISTS { pattern }`` (the pattern's IR) over ``env``: the renderer's (it renders the pattern)."""
        raise NotImplementedError


def static_fields(t: TermCols) -> dict[str, Any]:
    """The fields of ``t`` (but the geometry) that are constants: their Python values (``None``: NULL)."""
    out = {}
    for f in FIELDS:
        if f != "geom":
            value = static(t, f)
            if value is not UNKNOWN:
                out[f] = value
    return out


def any_geometry(geom: Any) -> Any:
    return sa.func.ST_GeomFromEWKB(sa.func.decode(sa.func.min(sa.func.encode(sa.func.ST_AsEWKB(geom), "hex")), "hex"))


def unbound() -> TermCols:
    return TermCols(sa.null().cast(sa.SmallInteger()), sa.null().cast(sa.Text()))
