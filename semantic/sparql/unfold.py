"""Basic graph patterns: the quad table with the ontology applied (an entailed view per pattern), the mapped
tables' T-mappings unfolded into a union of plain joins (one per combination of sources), the quad table's
branches pruned by its signature, and the same-row OPTIONAL (left-join elimination)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from rdflib.term import Node, Variable

from semantic.sparql import ir
from semantic.sparql.expressions import ebv
from semantic.sparql.rel import QUADS, Rel
from semantic.sparql.sqlgen import SqlWriter, static_fields, unbound
from semantic.sparql.terms import FIELDS, TermCols, constant
from semantic.sql import case
from semantic.vocab import IRI


class PatternRenderer(SqlWriter):
    """Renders basic graph patterns (``ir.Quads``) and OPTIONALs over the same rows of the mapped tables."""

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
        if self.virtual(graph):
            from semantic.sparql.mapped import entailed_quads

            entailed = entailed_quads(self.mapped.tmappings.tbox, QUADS, predicate, obj)
            if entailed is not None:
                return entailed.alias(self.name("e"))
        return QUADS.alias(self.name("q"))

    def _quads_may_match(self, triple: tuple[Any, Any, Any]) -> bool:
        """Whether the default graph's quads can match ``triple`` (always, without a signature)."""
        if self.signature is None:
            return True
        return bool(self.signature.may_match(self.mapped.tmappings.tbox, triple[1], triple[2]))

    def _quad_source(self, triple: tuple[Any, Any, Any]) -> tuple[Any, tuple[TermCols, ...], list[Any]]:
        """A quad-table alias for one triple in the default graph, with its constant predicate and object."""
        q = self._quads_for(triple[1], triple[2], None)
        where: list[Any] = []
        self.graph_condition(q, None, {}, where)
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
        from semantic.sparql.join_plan import VirtualBGP

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
                selects.append(self.select([(v, env[v]) for v in variables]).select_from(joined).where(*where))
        if not selects:
            stmt: Any = self.select([(v, unbound()) for v in variables]).where(sa.false())
            return Rel(stmt.subquery(self.name("vb")), tuple(variables), frozenset(), empty=True)
        if len(selects) == 1:  # one combination: what is known of its terms holds for the pattern
            shapes = {v: t.shape for v, t in env.items() if t.shape is not None}
            inner = {v: env[v] for v in variables}
            sub = selects[0].subquery(self.name("vb"))
            statics = {v: static_fields(t) for v, t in inner.items()}
            return Rel(
                sub, tuple(variables), frozenset(), shapes=shapes, select=selects[0], inner=inner, statics=statics
            )
        return Rel(sa.union_all(*selects).subquery(self.name("vb")), tuple(variables), frozenset())

    def _virtual_bgp(self, node: ir.Quads, sources: list[list[tuple[Any, dict[str, TermCols]]]]) -> Rel:
        """A BGP over the quad table and the mapped tables: per triple, the union of its sources, then joins."""
        rels = []
        for triple, mapped in zip(node.triples, sources, strict=True):
            quads = self._quads_only(ir.Quads((triple,), None))
            variables = list(quads.variables)
            selects = []
            if self._quads_may_match(triple) or not mapped:
                selects.append(self.select([(v, quads.cols(v)) for v in variables]).select_from(quads.sub))
            # a mapped select binds the same variables in the same order (first occurrence in s, p, o)
            selects += [stmt for stmt, _ in mapped]
            union: Any = sa.union_all(*selects) if len(selects) > 1 else selects[0]
            rels.append(Rel(union.subquery(self.name("t")), tuple(variables), frozenset()))
        acc = rels[0]
        for rel in rels[1:]:
            conds, columns, maybe = self.join_parts(acc, rel)
            joined = acc.sub.join(rel.sub, sa.and_(sa.true(), *conds))
            acc = self.finish(columns, self.select(columns).select_from(joined), maybe)
        return acc

    def _quads_only(self, node: ir.Quads) -> Rel:
        env: dict[str, TermCols] = {}
        where: list[Any] = []
        aliases = []
        for s, p, o in node.triples:
            q = self._quads_for(p, o, node.graph)
            aliases.append(q)
            self.graph_condition(q, node.graph, env, where)
            positions = (
                (s, TermCols(q.c.s_kind, q.c.s)),
                (p, TermCols(sa.literal(IRI, sa.SmallInteger()), q.c.p)),
                (o, TermCols(q.c.o_kind, q.c.o, q.c.o_dt, q.c.o_lang, q.c.o_num, q.c.o_ts, q.c.o_geom)),
            )
            for term, cols in positions:
                if isinstance(term, Variable):
                    self.bind(str(term), cols, env, where)
                elif term is p:
                    where.append(q.c.p == str(term))
                else:
                    where.append(self._match_constant(term, cols))
                    if term is o:  # objects are indexed by md5 (literals can be long)
                        where.append(sa.func.md5(q.c.o) == sa.func.md5(sa.literal(str(term), sa.Text())))
        if not aliases:  # the empty pattern: one solution binding nothing
            return self.finish([], sa.select(sa.literal(1).label("one")), set())
        columns = list(env.items())
        stmt = sa.select(*[c for v, t in columns for c in t.labelled(v)] or [sa.literal(1).label("one")])
        # explicit joins (the conditions are in WHERE): no cartesian-product warning for unconnected patterns
        joined: Any = aliases[0]
        for alias in aliases[1:]:
            joined = joined.join(alias, sa.true())
        stmt = stmt.select_from(joined).where(*where)
        return self.finish(columns, stmt, set(), plain=True)

    @staticmethod
    def _match_constant(term: Node, cols: TermCols) -> Any:
        c = constant(term)
        conds = [cols.get("v") == c.get("v"), cols.get("k") == c.get("k")]
        if c.dt is not None:
            conds.append(cols.get("dt") == c.get("dt"))
            conds.append(cols.get("lang").is_not_distinct_from(c.get("lang")))
        return sa.and_(*conds)

    def _same_row_optional(self, node: ir.LeftJoin) -> Rel | None:
        """``{ A OPTIONAL { B FILTER(e) } }`` over mapped tables where every triple of B reads a row that A reads
        (the same key, see ``VirtualBGP.same_rows``) and each side is one combination of sources: one scan, with
        B's variables as ``CASE WHEN <B's conditions and e> THEN <column> END`` (left-join elimination); ``None``
        when that does not apply."""
        left, right = node.left, node.right
        if not (isinstance(left, ir.Quads) and isinstance(right, ir.Quads) and left.triples and right.triples):
            return None
        if not (self.virtual(left.graph) and self.virtual(right.graph)):
            return None
        from semantic.sparql.join_plan import VirtualBGP

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
        stmt = self.select([(v, by_name[v]) for v in order]).select_from(joined).where(*where)
        return self.finish([(v, by_name[v]) for v in order], stmt, set(added), plain=True)
