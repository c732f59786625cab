"""Stage four: render the IR into one SQLAlchemy Core statement over the quad table.

Every node becomes a subquery whose columns are ``<var>__<field>`` for the term columns of each variable it
binds (docs/sparql.md). Variables that may be unbound (from OPTIONAL, UNION, VALUES) are tracked, so joins use
SPARQL's compatibility test only where it is needed and plain equality elsewhere.
"""

from __future__ import annotations

from itertools import count
from typing import Any

import sqlalchemy as sa
from rdflib.term import Node, Variable
from sqlalchemy.dialects import postgresql

from semantic.errors import UnsupportedFeature
from semantic.sparql import ir
from semantic.sparql.aggregates import aggregate
from semantic.sparql.expressions import Compiler, Val, ebv, settled, term_equal
from semantic.sparql.paths import path_pattern
from semantic.sparql.rel import QUADS, Rel
from semantic.sparql.terms import (
    FIELDS,
    IRI,
    LITERAL,
    SQL_TYPES,
    UNKNOWN,
    TermCols,
    constant,
    constant_values,
    label,
    static,
)
from semantic.sql import case

ARRAY_VALUES_ROWS = 64
"""VALUES blocks with more rows than this are bound as arrays (:meth:`Renderer._values_as_arrays`)."""


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


class Renderer:
    """Renders a query's IR.

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

    def _name(self, prefix: str) -> str:
        return f"{prefix}{next(self._names)}"

    def compiler(self, env: dict[str, TermCols], laterals: list[Any] | None = None) -> Compiler:
        """An expression compiler over ``env`` that can render EXISTS patterns; with ``laterals``, one that hoists
        large sub-expressions into ``LATERAL`` subqueries it appends there, for the caller to join (in order)
        after the FROM that ``env`` reads (:meth:`_with_laterals`)."""
        hoist = None
        if laterals is not None:

            def hoist(val: Val) -> Val:
                return self._hoist(val, laterals)

        return Compiler(env, exists=self._exists, functions=self.functions, base=self.base, hoist=hoist)

    def _hoist(self, val: Val, laterals: list[Any]) -> Val:
        """``val`` computed once per row in a ``LATERAL (SELECT ... OFFSET 0)`` (the OFFSET keeps PostgreSQL from
        pulling the subquery up, which would copy the expression back into every place that reads it), and read
        from its columns; the fields that are constants or absent stay as they are (what the rewriter knows)."""
        term = val.term
        hoisted = [f for f in FIELDS if static(term, f) is UNKNOWN]
        columns = [term.get(f).label(f) for f in hoisted]
        if val.boolean is not None:
            columns.append(sa.sql.elements.Grouping(val.boolean).label("b"))
        lateral = sa.select(*columns).correlate_except(None).offset(0).lateral(self._name("h"))
        laterals.append(lateral)
        fields = {f: lateral.c[f] if f in hoisted else getattr(term, f) for f in FIELDS}
        return Val(TermCols(**fields, shape=term.shape, lift=term.lift), None if val.boolean is None else lateral.c.b)

    def _fenced(self, rel: Rel) -> Rel:
        """``rel`` behind ``OFFSET 0``: PostgreSQL computes its columns once per row instead of pulling it up."""
        sub = sa.select(rel.sub).offset(0).subquery(self._name("f"))
        return Rel(sub, rel.variables, rel.maybe, rel.ordered, shapes=rel.shapes, statics=rel.statics)

    @staticmethod
    def _with_laterals(source: Any, laterals: list[Any]) -> Any:
        """``source`` joined with the hoisted subqueries (``LATERAL``: each reads the ones before it)."""
        for lateral in laterals:
            source = source.join(lateral, sa.true())
        return source

    def _finish(
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
        sub = stmt.subquery(self._name("n"))
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

    def render(self, node: Any) -> Rel:
        """The subquery of ``node``."""
        method = getattr(self, f"_{type(node).__name__}")
        return method(node)  # type: ignore[no-any-return]

    # -- basic graph patterns -----------------------------------------------------------------------------

    def _graph_condition(self, alias: Any, graph: Node | None, env: dict[str, TermCols], where: list[Any]) -> None:
        col = alias.c.graph
        if graph is None:
            where.append(col.in_(list(self.default_graphs)) if self.dataset else col == "")
            return
        where.append(col != "")
        if self.dataset:
            where.append(col.in_(list(self.named_graphs)))
        term = TermCols(sa.literal(IRI, sa.SmallInteger()), col)
        if isinstance(graph, Variable):
            self._bind(str(graph), term, env, where)
        else:
            where.append(col == str(graph))

    @staticmethod
    def _bind(var: str, cols: TermCols, env: dict[str, TermCols], where: list[Any]) -> None:
        if var in env:
            where.append(term_equal(env[var], cols))
        else:
            env[var] = cols

    def _Quads(self, node: ir.Quads) -> Rel:
        if self.mapped is not None and node.graph is None and not self.dataset and node.triples:
            if any(self.mapped.assertions(p, o) for _, p, o in node.triples):
                combined = self._virtual_combinations(node)
                if combined is not None:
                    return combined
                return self._virtual_bgp(node, [self.mapped.selects(t) for t in node.triples])
        return self._quads_only(node)

    def _quads_for(self, predicate: Node, obj: Node, graph: Node | None) -> Any:
        """The quad table for one triple pattern: with the ontology applied in the virtual graph's default graph
        (subclasses, subproperties, domains, ranges, inverses), else ``rdf_quad`` itself."""
        if self._virtual(graph):
            from semantic.sparql.mapped import entailed_quads

            entailed = entailed_quads(self.mapped.tmappings.tbox, QUADS, predicate, obj)
            if entailed is not None:
                return entailed.alias(self._name("e"))
        return QUADS.alias(self._name("q"))

    def _virtual(self, graph: Node | None) -> bool:
        """Whether patterns in this graph also match the mapped tables (the default graph, without FROM)."""
        return self.mapped is not None and graph is None and not self.dataset

    def _quads_may_match(self, triple: tuple[Any, Any, Any]) -> bool:
        """Whether the default graph's quads can match ``triple`` (always, without a signature)."""
        if self.signature is None:
            return True
        return bool(self.signature.may_match(self.mapped.tmappings.tbox, triple[1], triple[2]))

    def _quad_source(self, triple: tuple[Any, Any, Any]) -> tuple[Any, tuple[TermCols, ...], list[Any]]:
        """A quad-table alias for one triple in the default graph, with its constant predicate and object."""
        q = self._quads_for(triple[1], triple[2], None)
        where: list[Any] = []
        self._graph_condition(q, None, {}, where)
        cols = (
            TermCols(q.c.s_kind, q.c.s),
            TermCols(sa.literal(IRI, sa.SmallInteger()), q.c.p),
            TermCols(q.c.o_kind, q.c.o, q.c.o_dt, q.c.o_lang, q.c.o_num, q.c.o_ts, q.c.o_geom),
        )
        _, p, o = triple
        if not isinstance(p, Variable):
            where.append(q.c.p == str(p))
        if not isinstance(o, Variable):
            where.append(sa.func.md5(q.c.o) == sa.func.md5(sa.literal(str(o), sa.Text())))
        return q, cols, where

    def _virtual_combinations(self, node: ir.Quads) -> Rel | None:
        """The BGP as a union of plain joins, one per combination of sources (see ``VirtualBGP``)."""
        from semantic.sparql.mapped import VirtualBGP

        planner = VirtualBGP(self.mapped, self._quad_source, self._quads_may_match)
        combinations = planner.combinations(node.triples)
        if combinations is None:
            return None
        variables: list[str] = []
        for t in node.triples:
            for x in t:
                if isinstance(x, Variable) and str(x) not in variables:
                    variables.append(str(x))
        selects = []
        for combination in combinations:
            built = planner.build(node.triples, combination)
            if built is not None:
                joined, where, env, _, _ = built
                # union branches must list the variables in the same order
                selects.append(self._select([(v, env[v]) for v in variables]).select_from(joined).where(*where))
        if not selects:
            stmt: Any = self._select([(v, _unbound()) for v in variables]).where(sa.false())
            return Rel(stmt.subquery(self._name("vb")), tuple(variables), frozenset(), empty=True)
        if len(selects) == 1:  # one combination: what is known of its terms holds for the pattern
            shapes = {v: t.shape for v, t in env.items() if t.shape is not None}
            inner = {v: env[v] for v in variables}
            sub = selects[0].subquery(self._name("vb"))
            statics = {v: static_fields(t) for v, t in inner.items()}
            return Rel(
                sub, tuple(variables), frozenset(), shapes=shapes, select=selects[0], inner=inner, statics=statics
            )
        return Rel(sa.union_all(*selects).subquery(self._name("vb")), tuple(variables), frozenset())

    def _virtual_bgp(self, node: ir.Quads, sources: list[list[tuple[Any, dict[str, TermCols]]]]) -> Rel:
        """A BGP over the quad table and the mapped tables: per triple, the union of its sources, then joins."""
        rels = []
        for triple, mapped in zip(node.triples, sources, strict=True):
            quads = self._quads_only(ir.Quads((triple,), None))
            variables = list(quads.variables)
            selects = []
            if self._quads_may_match(triple) or not mapped:
                selects.append(self._select([(v, quads.cols(v)) for v in variables]).select_from(quads.sub))
            # a mapped select binds the same variables in the same order (first occurrence in s, p, o)
            selects += [stmt for stmt, _ in mapped]
            union: Any = sa.union_all(*selects) if len(selects) > 1 else selects[0]
            rels.append(Rel(union.subquery(self._name("t")), tuple(variables), frozenset()))
        acc = rels[0]
        for rel in rels[1:]:
            conds, columns, maybe = self._join_parts(acc, rel)
            joined = acc.sub.join(rel.sub, sa.and_(sa.true(), *conds))
            acc = self._finish(columns, self._select(columns).select_from(joined), maybe)
        return acc

    def _quads_only(self, node: ir.Quads) -> Rel:
        env: dict[str, TermCols] = {}
        where: list[Any] = []
        aliases = []
        for s, p, o in node.triples:
            q = self._quads_for(p, o, node.graph)
            aliases.append(q)
            self._graph_condition(q, node.graph, env, where)
            positions = (
                (s, TermCols(q.c.s_kind, q.c.s)),
                (p, TermCols(sa.literal(IRI, sa.SmallInteger()), q.c.p)),
                (o, TermCols(q.c.o_kind, q.c.o, q.c.o_dt, q.c.o_lang, q.c.o_num, q.c.o_ts, q.c.o_geom)),
            )
            for term, cols in positions:
                if isinstance(term, Variable):
                    self._bind(str(term), cols, env, where)
                elif term is p:
                    where.append(q.c.p == str(term))
                else:
                    where.append(self._match_constant(term, cols))
                    if term is o:  # objects are indexed by md5 (literals can be long)
                        where.append(sa.func.md5(q.c.o) == sa.func.md5(sa.literal(str(term), sa.Text())))
        if not aliases:  # the empty pattern: one solution binding nothing
            return self._finish([], sa.select(sa.literal(1).label("one")), set())
        columns = list(env.items())
        stmt = sa.select(*[c for v, t in columns for c in t.labelled(v)] or [sa.literal(1).label("one")])
        # explicit joins (the conditions are in WHERE): no cartesian-product warning for unconnected patterns
        joined: Any = aliases[0]
        for alias in aliases[1:]:
            joined = joined.join(alias, sa.true())
        stmt = stmt.select_from(joined).where(*where)
        return self._finish(columns, stmt, set(), plain=True)

    @staticmethod
    def _match_constant(term: Node, cols: TermCols) -> Any:
        c = constant(term)
        conds = [cols.get("v") == c.get("v"), cols.get("k") == c.get("k")]
        if c.dt is not None:
            conds.append(cols.get("dt") == c.get("dt"))
            conds.append(cols.get("lang").is_not_distinct_from(c.get("lang")))
        return sa.and_(*conds)

    # -- property paths ------------------------------------------------------------------------------------

    def _PathPattern(self, node: ir.PathPattern) -> Rel:
        return path_pattern(self, node)

    # -- combining ----------------------------------------------------------------------------------------

    def _join_parts(
        self, left: Rel, right: Rel, outer: bool = False
    ) -> tuple[list[Any], list[tuple[str, TermCols]], set[str]]:
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

    def _select(self, columns: list[tuple[str, TermCols]], order: Any = None) -> Any:
        cols = [c for v, t in columns for c in t.labelled(v)]
        if order is not None:
            cols.append(order.label("__ord"))
        return sa.select(*(cols or [sa.literal(1).label("one")]))

    def _Join(self, node: ir.Join) -> Rel:
        left, right = self.render(node.left), self.render(node.right)
        conds, columns, maybe = self._join_parts(left, right)
        joined = left.sub.join(right.sub, sa.and_(sa.true(), *conds))
        return self._finish(columns, self._select(columns).select_from(joined), maybe)

    def _LeftJoin(self, node: ir.LeftJoin) -> Rel:
        fused = self._same_row_optional(node)
        if fused is not None:
            return fused
        left, right = self.render(node.left), self.render(node.right)
        conds, columns, _ = self._join_parts(left, right, outer=True)
        if node.expr is not None:
            env = dict(columns)
            conds.append(ebv(self.compiler(env)(node.expr)))
        joined = left.sub.outerjoin(right.sub, sa.and_(sa.true(), *conds))
        maybe = set(left.maybe) | {v for v in right.variables if v not in left.variables or v in left.maybe}
        return self._finish(columns, self._select(columns).select_from(joined), maybe)

    def _same_row_optional(self, node: ir.LeftJoin) -> Rel | None:
        """``{ A OPTIONAL { B FILTER(e) } }`` over mapped tables where every triple of B reads a row that A reads
        (the same key, see ``VirtualBGP.same_rows``) and each side is one combination of sources: one scan, with
        B's variables as ``CASE WHEN <B's conditions and e> THEN <column> END`` (left-join elimination); ``None``
        when that does not apply."""
        left, right = node.left, node.right
        if not (isinstance(left, ir.Quads) and isinstance(right, ir.Quads) and left.triples and right.triples):
            return None
        if not (self._virtual(left.graph) and self._virtual(right.graph)):
            return None
        from semantic.sparql.mapped import VirtualBGP

        planner = VirtualBGP(self.mapped, self._quad_source, self._quads_may_match)
        lc, rc = planner.combinations(left.triples), planner.combinations(right.triples)
        if lc is None or rc is None or len(lc) != 1 or len(rc) != 1 or None in lc[0] or None in rc[0]:
            return None
        built = planner.build(left.triples + right.triples, lc[0] + rc[0], split=len(left.triples))
        if built is None:
            return None
        joined, where, env, optional, added = built
        conds = list(optional)
        if node.expr is not None:
            conds.append(ebv(self.compiler({**env, **added})(node.expr)))
        matched = sa.and_(sa.true(), *conds)
        columns = list(env.items())
        # every field under the condition, so what is known of the term when bound (its shape) still holds
        columns += [
            (v, TermCols(*(case((matched, t.get(f)), else_=sa.null()) for f in FIELDS)).with_(shape=t.shape))
            for v, t in added.items()
        ]
        variables = [v for t in left.triples + right.triples for v in map(str, t) if v in dict(columns)]
        order = list(dict.fromkeys(variables))
        by_name = dict(columns)
        stmt = self._select([(v, by_name[v]) for v in order]).select_from(joined).where(*where)
        return self._finish([(v, by_name[v]) for v in order], stmt, set(added), plain=True)

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
        terms = {v: settled([r.cols(v) if v in r.variables else _unbound() for r in rels]) for v in variables}
        selects = [self._select([(v, terms[v][i]) for v in variables]).select_from(r.sub) for i, r in enumerate(rels)]
        maybe = {v for r in rels for v in r.maybe} | {v for v in variables if any(v not in r.variables for r in rels)}
        sub = sa.union_all(*selects).subquery(self._name("u"))
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
        stmt = self._select(columns).select_from(left.sub)
        if shared:
            both = sa.or_(*(left.cols(v).get("k").is_not(None) & right.cols(v).get("k").is_not(None) for v in shared))
            compat = [compatible(left.cols(v), right.cols(v), True) for v in shared]
            stmt = stmt.where(~sa.exists().select_from(right.sub).where(both, *compat))
        return self._finish(columns, stmt, set(left.maybe))

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
                return self._finish(columns, stmt, set(child.maybe), plain=True, grouped=child.grouped)
            laterals.clear()
        columns = list(child.env().items())
        cond = ebv(self.compiler(child.env(), laterals)(node.expr))
        source = self._with_laterals(child.sub, laterals)
        stmt = self._select(columns, child.order).select_from(source).where(cond)
        return self._finish(columns, stmt, set(child.maybe), child.ordered)

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
                return self._finish(inner, stmt, set(child.maybe) | {var}, plain=True, grouped=child.grouped)
            laterals.clear()
        value = self.compiler(child.env(), laterals)(node.expr).term
        if _reads_computed_twice([*(value.get(f) for f in FIELDS), *laterals]):
            # PostgreSQL would pull the child up and copy that expression into each place that reads it: in
            # a chain of BINDs that read the one before twice, 2^n copies (the backend ran out of memory)
            child, laterals = self._fenced(child), []
            value = self.compiler(child.env(), laterals)(node.expr).term
        columns = [*child.env().items(), (var, value)]
        stmt = self._select(columns, child.order).select_from(self._with_laterals(child.sub, laterals))
        return self._finish(columns, stmt, set(child.maybe) | {var}, child.ordered)

    def _Values(self, node: ir.Values) -> Rel:
        variables = [str(v) for v in node.variables]
        if len(node.rows) > ARRAY_VALUES_ROWS and variables:
            arrays = self._values_as_arrays(variables, node.rows)
            if arrays is not None:
                return arrays
        selects = []
        for row in node.rows:
            columns = [(v, _unbound() if t is None else constant(t)) for v, t in zip(variables, row, strict=True)]
            selects.append(self._select(columns))
        if not selects:
            stmt: Any = self._select([(v, _unbound()) for v in variables]).where(sa.false())
        else:
            stmt = selects[0] if len(selects) == 1 else sa.union_all(*selects)
        maybe = {v for i, v in enumerate(variables) if any(row[i] is None for row in node.rows)}
        return Rel(stmt.subquery(self._name("v")), tuple(variables), frozenset(maybe))

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
        table = sa.func.unnest(*arrays).table_valued(*(label(v, f) for v, f in keys)).render_derived(self._name("v"))
        stmt = sa.select(*(table.c[label(v, f)] for v, f in keys))
        maybe = {v for i, v in enumerate(variables) if any(row[i] is None for row in rows)}
        no_geometry = {v: {"geom": None} for v in variables}
        return Rel(stmt.subquery(self._name("v")), tuple(variables), frozenset(maybe), statics=no_geometry)

    def _Project(self, node: ir.Project) -> Rel:
        child = self.render(node.child)
        names = [str(v) for v in node.variables]
        maybe = {v for v in names if v in child.maybe or v not in child.variables}
        if child.select is not None and child.inner is not None:  # the child's SELECT, other columns
            inner = [(v, child.inner[v] if v in child.inner else _unbound()) for v in names]
            labelled = [c for v, t in inner for c in t.labelled(v)] or [sa.literal(1).label("one")]
            stmt = child.select.with_only_columns(*labelled)
            return self._finish(inner, stmt, maybe, plain=True, grouped=child.grouped)
        # (the subquery's columns only here: SQLAlchemy builds a subquery's column collection on first use)
        columns = [(v, child.cols(v) if v in child.variables else _unbound()) for v in names]
        stmt = self._select(columns, child.order).select_from(child.sub)
        return self._finish(columns, stmt, maybe, child.ordered)

    def _Distinct(self, node: ir.Distinct) -> Rel:
        child = self.render(node.child)
        columns = list(child.env().items())
        if not columns:
            stmt = self._select(columns).select_from(child.sub).limit(1)
            return self._finish(columns, stmt, set(child.maybe))
        keys = [t.get(f) for _, t in columns for f in FIELDS if f != "geom"]
        # one row per distinct solution; its position is the first of its duplicates
        # the geometry follows from the lexical form, so any one of the group's values will do
        grouped = [(v, t.with_(geom=_any_geometry(t.get("geom")))) for v, t in columns]
        order = sa.func.min(child.order) if child.ordered else None
        stmt = self._select(grouped, order).select_from(child.sub).group_by(*keys)
        return self._finish(columns, stmt, set(child.maybe), child.ordered)

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
        stmt = self._select(columns, order).select_from(self._with_laterals(child.sub, laterals))
        return self._finish(columns, stmt, set(child.maybe), True)

    def _Slice(self, node: ir.Slice) -> Rel:
        child = self.render(node.child)
        columns = list(child.env().items())
        stmt = self._select(columns, child.order).select_from(child.sub)
        if child.ordered:
            stmt = stmt.order_by(child.order)
        stmt = stmt.offset(node.offset or None).limit(node.limit)
        return self._finish(columns, stmt, set(child.maybe), child.ordered)

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
            stmt = child.select.with_only_columns(*self._select(columns).selected_columns)
        else:
            stmt = self._select(columns).select_from(self._with_laterals(child.sub, laterals))
        group_by = self._group_keys(node, env)
        if group_by:
            stmt = stmt.group_by(*group_by)
        return self._finish(columns, stmt, {v for v, _ in columns}, plain=True, grouped=True)

    @staticmethod
    def _group_keys(node: ir.Group, env: dict[str, TermCols]) -> list[Any]:
        """The GROUP BY expressions: every field of each key (a computed number has only its value), but those
        that are the same in every row."""
        group_by: list[Any] = []
        for key in node.keys:
            t = env.get(str(key), _unbound())
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
            keys[str(key)] = env.get(str(key), _unbound())
        # rdflib binds grouped variables again through SAMPLE aggregates (then Extend), so keys are not output
        columns: list[tuple[str, TermCols]] = []
        # with GROUP BY keys no group is empty: a variable the child always binds has a value in each
        bound = frozenset(v for v in child.variables if v not in child.maybe) if node.keys else frozenset()
        for var, agg in node.aggregates:
            target = agg.get("vars")
            if agg.name == "Aggregate_Sample" and isinstance(target, Variable) and str(target) in keys:
                # a group key: one value per group (its template's columns are not grouping keys: no Lift)
                columns.append((str(var), keys[str(target)].with_(geom=None, lift=None)))
                continue
            columns.append((str(var), aggregate(agg, compiler, bound)))
        return columns

    # -- EXISTS ---------------------------------------------------------------------------------------------

    def _exists(self, pattern: Any, env: dict[str, TermCols]) -> Any:
        from semantic.sparql.translate import node as to_ir

        inner = self.render(to_ir(pattern))
        conds = [compatible(env[v], inner.cols(v), True) for v in inner.variables if v in env]
        # every other FROM it reads is an outer one, also from inside a hoisted LATERAL (where SQLAlchemy's
        # automatic correlation would not look)
        return sa.exists().select_from(inner.sub).where(sa.true(), *conds).correlate_except(inner.sub)


def _computed_column(column: Any) -> bool:
    """Whether PostgreSQL, pulling subqueries up, would replace ``column`` by a computed expression: it is (through
    any plain subqueries) a SELECT's expression other than a column, a constant or NULL."""
    while True:
        sub = getattr(column, "table", None)
        if not isinstance(sub, sa.sql.selectable.Subquery) or not isinstance(sub.element, sa.sql.Select):
            return False  # a table, a LATERAL, a UNION, a function's rows
        select = sub.element
        if select._offset_clause is not None or select._limit_clause is not None or select._group_by_clauses:
            return False  # never pulled up
        expr = select.selected_columns.get(column.key)
        while isinstance(expr, sa.sql.elements.Label):
            expr = expr.element
        if isinstance(expr, sa.sql.elements.ColumnClause):
            column = expr
            continue
        if expr is None or isinstance(expr, sa.sql.elements.BindParameter | sa.sql.elements.Null):
            return False
        if isinstance(expr, sa.sql.elements.Cast) and isinstance(expr.clause, sa.sql.elements.Null):
            return False
        return True


def _reads_computed_twice(roots: list[Any]) -> bool:
    """Whether SQL expressions (``LATERAL`` subqueries: their columns) read some computed column
    (:func:`_computed_column`) more than once, counted as their SQL text repeats them."""
    memo: dict[int, tuple[Any, dict[Any, int]]] = {}
    computed: dict[Any, bool] = {}

    def reads(node: Any) -> dict[Any, int]:
        hit = memo.get(id(node))
        if hit is not None:
            return hit[1]
        out: dict[Any, int] = {}
        if isinstance(node, sa.sql.elements.ColumnClause):
            if node not in computed:
                computed[node] = _computed_column(node)
            if computed[node]:
                out[node] = 1
        elif isinstance(node, sa.sql.selectable.Lateral):
            select: Any = node.element
            while isinstance(select, sa.sql.selectable.Subquery):
                select = select.element
            for column in select.selected_columns:
                for key, n in reads(column).items():
                    out[key] = out.get(key, 0) + n
        elif not isinstance(node, sa.sql.selectable.SelectBase | sa.sql.FromClause) or isinstance(
            node, sa.sql.functions.FunctionElement
        ):
            for child in node.get_children():
                for key, n in reads(child).items():
                    out[key] = out.get(key, 0) + n
        memo[id(node)] = (node, out)
        return out

    total: dict[Any, int] = {}
    for root in roots:
        for key, n in reads(root).items():
            total[key] = total.get(key, 0) + n
            if total[key] > 1:
                return True
    return False


def static_fields(t: TermCols) -> dict[str, Any]:
    """The fields of ``t`` (but the geometry) that are constants: their Python values (``None``: NULL)."""
    out = {}
    for f in FIELDS:
        if f != "geom":
            value = static(t, f)
            if value is not UNKNOWN:
                out[f] = value
    return out


def _any_geometry(geom: Any) -> Any:
    return sa.func.ST_GeomFromEWKB(sa.func.decode(sa.func.min(sa.func.encode(sa.func.ST_AsEWKB(geom), "hex")), "hex"))


def _unbound() -> TermCols:
    return TermCols(sa.null().cast(sa.SmallInteger()), sa.null().cast(sa.Text()))


__all__ = ["QUADS", "Rel", "Renderer", "Val"]
