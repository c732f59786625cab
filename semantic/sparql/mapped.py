"""Mapped tables as triple sources: a triple pattern's matches from the T-mapping assertions, as SQL.

Each assertion whose predicate (or class, for ``rdf:type``) can match a pattern becomes one SELECT over its
logical table that produces the pattern's variables as term columns (docs/sparql.md). Nothing is materialised:
IRIs are built from templates, literals from columns (``num``/``ts``/``geom`` straight from the typed column,
so filters and GiST indexes work on the column itself).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import count
from typing import Any

import sqlalchemy as sa
from rdflib import BNode, Literal, URIRef
from rdflib.term import Node, Variable

from semantic.mapping.r2rml import Column, RefObjectMap, TermKind, TermMap, TermType
from semantic.mapping.tmappings import Assertion, TMappings
from semantic.sparql.terms import (
    IRI,
    LITERAL,
    RDF_LANGSTRING,
    XSD_BOOLEAN,
    XSD_DATETIME,
    XSD_DECIMAL,
    XSD_DOUBLE,
    XSD_INTEGER,
    XSD_STRING,
    TermCols,
    constant,
)

RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
WKT = "http://www.opengis.net/ont/geosparql#wktLiteral"
GEOJSON = "http://www.opengis.net/ont/geosparql#geoJSONLiteral"
_K = sa.SmallInteger()
_TS_FORMAT = 'YYYY-MM-DD"T"HH24:MI:SS'
_TS_IRI_FORMAT = 'YYYY-MM-DD"T"HH24"%3A"MI"%3A"SS"Z"'


def _natural_datatype(sql_type: str) -> str:
    """R2RML's natural RDF datatype of a SQL type."""
    t = sql_type.lower()
    if t.startswith(("integer", "bigint", "smallint")):
        return XSD_INTEGER
    if t.startswith(("double", "real", "float")):
        return XSD_DOUBLE
    if t.startswith("numeric"):
        return XSD_DECIMAL
    if t.startswith("boolean"):
        return XSD_BOOLEAN
    if t.startswith("timestamp"):
        return XSD_DATETIME
    return XSD_STRING


@dataclass(frozen=True)
class MappedTable:
    """The SQL side of one logical table: a FROM item and its column types."""

    source: Any
    types: dict[str, str]


class MappedSources:
    """Builds triple-pattern SELECTs from T-mapping assertions.

    Args:
        tmappings: The compiled assertions.
        column_types: ``(logical table key, column) → SQL type name`` from :func:`validate_mappings`.
    """

    def __init__(
        self,
        tmappings: TMappings,
        column_types: dict[tuple[str, str], str],
        primary_keys: dict[str, tuple[str, ...]] | None = None,
    ) -> None:
        self.tmappings = tmappings
        self.column_types = column_types
        self.primary_keys = primary_keys or {}
        self._names = count()

    def assertions(self, predicate: Node, obj: Node) -> tuple[Assertion, ...]:
        """Assertions that can produce triples with this predicate (and class, for ``rdf:type``)."""
        if isinstance(predicate, Variable):
            return tuple(self.tmappings.assertions)
        if str(predicate) == RDF_TYPE and isinstance(obj, URIRef):
            return self.tmappings.assertions_for_class(str(obj))
        return self.tmappings.assertions_for_property(str(predicate))

    def _table(self, assertion: Assertion) -> MappedTable:
        lt = assertion.triples_map.logical_table
        types = {c: t for (k, c), t in self.column_types.items() if k == lt.key}
        name = f"m{next(self._names)}"
        source: Any
        if lt.sql_query is not None:
            source = sa.text(lt.sql_query).columns(*(sa.column(c) for c in types)).subquery(name)
        else:
            source = sa.table(str(lt.table), *(sa.column(c) for c in types), schema=lt.schema).alias(name)
        return MappedTable(source, types)

    def term(self, tm: TermMap, table: MappedTable) -> TermCols:
        """The term columns a term map produces on ``table``'s rows."""
        if tm.kind is TermKind.CONSTANT:
            if tm.term_type is TermType.LITERAL:
                return constant(Literal(tm.value, lang=tm.language, datatype=tm.datatype))
            return constant(URIRef(tm.value))
        if tm.kind is TermKind.TEMPLATE:
            parts = [self._iri_part(p, table) if isinstance(p, Column) else sa.literal(p, sa.Text()) for p in tm.parts]
            lex: Any = sa.func.concat(*parts)
            if tm.term_type is TermType.LITERAL:
                return TermCols(sa.literal(LITERAL, _K), lex, tm.datatype or XSD_STRING, tm.language)
            kind = IRI if tm.term_type is TermType.IRI else 2
            return TermCols(sa.literal(kind, _K), lex)
        col = table.source.c[tm.value]
        sql_type = table.types.get(tm.value, "text")
        if tm.term_type is not TermType.LITERAL:
            return TermCols(sa.literal(IRI if tm.term_type is TermType.IRI else 2, _K), col.cast(sa.Text()))
        if tm.language:
            return TermCols(sa.literal(LITERAL, _K), col.cast(sa.Text()), RDF_LANGSTRING, tm.language.lower())
        datatype = tm.datatype or _natural_datatype(sql_type)
        k = sa.case((col.is_not(None), sa.literal(LITERAL, _K)), else_=sa.null())
        if sql_type.startswith("geometry"):
            lex = sa.func.ST_AsGeoJSON(col, 15) if datatype == GEOJSON else sa.func.ST_AsText(col)  # type: ignore[assignment]
            return TermCols(k, lex, datatype, None, None, None, col)
        if sql_type.startswith("timestamp"):
            lex = sa.func.to_char(sa.func.timezone("UTC", col), _TS_FORMAT) + "Z"
            return TermCols(k, lex, datatype, None, None, col)
        if sql_type.startswith(("integer", "bigint", "smallint", "double", "real", "numeric")):
            return TermCols(k, col.cast(sa.Text()), datatype, None, col.cast(sa.Numeric()))
        if sql_type.startswith("boolean"):
            return TermCols(k, sa.case((col, "true"), else_="false"), datatype)
        return TermCols(k, col.cast(sa.Text()), datatype)

    def _iri_part(self, column: Column, table: MappedTable) -> Any:
        col = table.source.c[column.name]
        sql_type = table.types.get(column.name, "text")
        if sql_type.startswith(("integer", "bigint", "smallint")):
            return col.cast(sa.Text())
        if sql_type.startswith("timestamp"):
            return sa.func.to_char(sa.func.timezone("UTC", col), _TS_IRI_FORMAT)
        return sa.func.esdl_iri_safe(col.cast(sa.Text()))

    def selects(self, triple: tuple[Node, Node, Node]) -> list[tuple[Any, dict[str, TermCols]]]:
        """``(select, variable term columns)`` for each assertion that can match ``triple``."""
        s, p, o = triple
        out = []
        for assertion in self.assertions(p, o):
            if isinstance(assertion.object, RefObjectMap):
                continue  # the shipped mappings have none; joins to parent maps come with their use
            table = self._table(assertion)
            where: list[Any] = [table.source.c[c].is_not(None) for c in assertion.not_null]
            subject = self.term(assertion.subject, table)
            obj = self.term(assertion.object, table)
            pred = constant(URIRef(assertion.predicate))
            env: dict[str, TermCols] = {}
            ok = True
            for term, cols in ((s, subject), (p, pred), (o, obj)):
                if isinstance(term, Variable):
                    if str(term) in env:
                        where.append(_same(env[str(term)], cols))
                    else:
                        env[str(term)] = cols
                elif isinstance(term, BNode):
                    ok = False  # blank nodes in patterns are variables by the time they get here
                else:
                    where.append(_same(constant(term), cols))
            where.append(subject.get("k").is_not(None))
            where.append(obj.get("k").is_not(None))
            if ok:
                columns = [c for v, t in env.items() for c in t.labelled(v)] or [sa.literal(1).label("one")]
                out.append((sa.select(*columns).select_from(table.source).where(*where), env))
        return out


def _same(a: TermCols, b: TermCols) -> Any:
    return (
        (a.get("k") == b.get("k"))
        & (a.get("v") == b.get("v"))
        & a.get("dt").is_not_distinct_from(b.get("dt"))
        & a.get("lang").is_not_distinct_from(b.get("lang"))
    )


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


def _clash(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Two IRI templates can never produce the same IRI: their leading literal texts disagree."""
    return not (a[0].startswith(b[0]) or b[0].startswith(a[0])) if a and b else False


class VirtualBGP:
    """A basic graph pattern over the quad table and the mapped tables as a union of plain joins.

    Every combination of sources (the quad table or one assertion per triple) becomes one SELECT. Combinations
    whose IRI templates cannot meet are dropped; variables bound by the same template compare the template's
    columns; two assertions on the same table whose subjects are the same template over the table's key read
    one row (self-join elimination).

    Args:
        sources: The mapped sources.
        primary_keys: Primary-key columns by logical-table key.
        quad: Builds a quad-table source for one triple: ``(from item, term columns by position, conditions)``.
        max_combinations: Above this, the caller falls back to a union per triple.
    """

    def __init__(
        self,
        sources: MappedSources,
        primary_keys: dict[str, tuple[str, ...]],
        quad: Any,
        max_combinations: int = 64,
    ) -> None:
        self.sources = sources
        self.primary_keys = primary_keys
        self.quad = quad
        self.max_combinations = max_combinations

    def selects(self, triples: tuple[tuple[Node, Node, Node], ...]) -> list[tuple[Any, dict[str, TermCols]]] | None:
        """One ``(select, bindings)`` per surviving combination, or ``None`` when there are too many."""
        from itertools import product

        choices = [
            [None, *(a for a in self.sources.assertions(p, o) if not isinstance(a.object, RefObjectMap))]
            for _, p, o in triples
        ]
        total = 1
        for c in choices:
            total *= len(c)
        if total > self.max_combinations:
            return None
        out = []
        for combination in product(*choices):
            built = self._combination(triples, combination)
            if built is not None:
                out.append(built)
        return out

    def _combination(self, triples: Any, combination: Any) -> tuple[Any, dict[str, TermCols]] | None:
        env: dict[str, _Binding] = {}
        froms: list[Any] = []
        where: list[Any] = []
        tables: dict[tuple[str, str, str], MappedTable] = {}  # (table key, subject template, subject var)
        for (s, p, o), assertion in zip(triples, combination, strict=True):
            if assertion is None:
                source, cols, conds = self.quad((s, p, o))
                froms.append(source)
                where += conds
                positions = [(s, _Binding(cols[0])), (p, _Binding(cols[1])), (o, _Binding(cols[2]))]
            else:
                lt = assertion.triples_map.logical_table
                key = (lt.key, assertion.subject.value, str(s))
                pk = self.primary_keys.get(lt.key, ())
                reuse = (
                    isinstance(s, Variable)
                    and _signature(assertion.subject) is not None
                    and pk
                    and set(pk) <= set(assertion.subject.columns)
                )
                table = tables.get(key) if reuse else None
                if table is None:
                    table = self.sources._table(assertion)
                    froms.append(table.source)
                    if reuse:
                        tables[key] = table
                where += [table.source.c[c].is_not(None) for c in assertion.not_null]
                subject = self._binding(assertion.subject, table)
                obj = self._binding(assertion.object, table)
                where += [subject.cols.get("k").is_not(None), obj.cols.get("k").is_not(None)]
                positions = [(s, subject), (p, _Binding(constant(URIRef(assertion.predicate)))), (o, obj)]
            for term, binding in positions:
                if isinstance(term, Variable):
                    known = env.get(str(term))
                    if known is None:
                        env[str(term)] = binding
                        continue
                    cond = self._equal(known, binding)
                    if cond is False:
                        return None
                    if cond is not True:
                        where.append(cond)
                else:
                    cond = self._constant(term, binding)
                    if cond is False:
                        return None
                    where.append(cond)
        joined: Any = froms[0]
        for f in froms[1:]:
            joined = joined.join(f, sa.true())
        columns = [c for v, b in env.items() for c in b.cols.labelled(v)] or [sa.literal(1).label("one")]
        return sa.select(*columns).select_from(joined).where(*where), {v: b.cols for v, b in env.items()}

    def _binding(self, tm: TermMap, table: MappedTable) -> _Binding:
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
            return _same(constant(term), binding.cols)
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
                return _same(constant(term), binding.cols)
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
        return _same(a.cols, b.cols)


def entailed_quads(tbox: Any, quads: Any, predicate: Node, obj: Node) -> Any | None:
    """The quads a pattern with this predicate (and class) matches once the ontology is applied: a union of
    quad-table selects with the columns of ``rdf_quad``, or ``None`` when the ontology adds nothing.

    ``?x a C`` also finds instances of C's subclasses and subjects (objects) of properties whose domain (range)
    is below C; ``?x p ?y`` also finds the pairs of p's subproperties, and of its inverses read backwards.
    """
    from semantic.mapping.tmappings import Role

    if not isinstance(predicate, URIRef):
        return None
    columns = ("graph", "s_kind", "s", "p", "o_kind", "o", "o_dt", "o_lang", "o_num", "o_ts", "o_geom")
    nulls = {"o_dt": None, "o_lang": None, "o_num": None, "o_ts": None, "o_geom": None}
    branches: list[Any] = []

    def select(q: Any, **override: Any) -> Any:
        values = []
        for c in columns:
            if c in override:
                v = override[c]
                expr: Any = v if isinstance(v, sa.sql.ClauseElement) else sa.literal(v)
                values.append(expr.label(c))
            else:
                values.append(q.c[c].label(c))
        return sa.select(*values)

    def role_pairs(role: Role, target_p: str) -> Any:
        q = quads.alias()
        if not role.inverse:
            return select(q, p=target_p).where(q.c.p == role.iri)
        swapped = {"s_kind": q.c.o_kind, "s": q.c.o, "o_kind": q.c.s_kind, "o": q.c.s, "p": target_p}
        return select(q, **swapped, **{k: sa.null() for k in nulls}).where(q.c.p == role.iri, q.c.o_kind != LITERAL)

    if str(predicate) == RDF_TYPE and isinstance(obj, URIRef):
        target = str(obj)
        subclasses = sorted(tbox.sub_classes(target))
        roles = sorted(tbox.roles_of_class(target), key=lambda r: (r.iri, r.inverse))
        if subclasses == [target] and not roles:
            return None
        q = quads.alias()
        branches.append(select(q, o=target).where(q.c.p == RDF_TYPE, q.c.o.in_(subclasses), q.c.o_kind == IRI))
        for role in roles:
            q = quads.alias()
            subject = (q.c.o_kind, q.c.o) if role.inverse else (q.c.s_kind, q.c.s)
            override = {"s_kind": subject[0], "s": subject[1], "p": RDF_TYPE, "o_kind": IRI, "o": target}
            branches.append(
                select(q, **override, **{k: sa.null() for k in nulls}).where(
                    q.c.p == role.iri, *([q.c.o_kind != LITERAL] if role.inverse else [])
                )
            )
    else:
        roles = sorted(tbox.sub_roles(str(predicate)), key=lambda r: (r.iri, r.inverse))
        if [r for r in roles if r != Role(str(predicate))] == []:
            return None
        branches = [role_pairs(r, str(predicate)) for r in roles]
    return sa.union(*branches).subquery()  # UNION: an entailed triple is one triple, however it is derived
