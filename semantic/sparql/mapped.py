"""Mapped tables as triple sources: a triple pattern's matches from the T-mapping assertions, as SQL.

Each assertion whose predicate (or class, for ``rdf:type``) can match a pattern becomes one SELECT over its
logical table that produces the pattern's variables as term columns (docs/sparql.md). Nothing is materialised:
IRIs are built from templates, literals from columns (``num``/``ts``/``geom`` straight from the typed column,
so filters and GiST indexes work on the column itself). Joining them into basic graph patterns is
:mod:`semantic.sparql.join_plan`'s; the quad table's entailed view per pattern is :func:`entailed_quads`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from itertools import count
from typing import Any

import sqlalchemy as sa
from rdflib import BNode, Literal, URIRef
from rdflib.term import Node, Variable

from semantic.geosparql.properties import GEOMETRY_PROPERTIES, GEOMETRY_VALUE, SERIALIZATIONS
from semantic.geosparql.properties import lexical as property_lexical
from semantic.mapping.r2rml import Column, RefObjectMap, TermKind, TermMap, TermType
from semantic.mapping.tmappings import Assertion, TMappings
from semantic.sparql.terms import UNKNOWN, Lift, TermCols, constant, static
from semantic.sparql.values import KIND
from semantic.sql import case
from semantic.vocab import (
    BLANK,
    IRI,
    LITERAL,
    RDF_LANGSTRING,
    RDF_TYPE,
    XSD_BOOLEAN,
    XSD_DATETIME,
    XSD_DECIMAL,
    XSD_DOUBLE,
    XSD_INTEGER,
    XSD_STRING,
)
from semantic.vocab import GEO_GEOJSON_LITERAL as GEOJSON

# the mapped tables' aliases (m0, m1 ...) numbered afresh in each translation (build_translation sets it), so a
# query's SQL is the same text whenever and wherever it is translated (not numbered on from the engine's last one)
table_names: ContextVar[Iterator[int] | None] = ContextVar("table_names", default=None)
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


# datatypes whose lexical form, for a column of the matching SQL type, is the text of the column's value
_NATURAL_NUMBERS = frozenset({XSD_DOUBLE, XSD_INTEGER, XSD_DECIMAL})
_INTEGER = ("number", XSD_INTEGER)


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
        unique_keys: The primary key and unique constraints (their columns) of each logical table that is a table.
    """

    def __init__(
        self,
        tmappings: TMappings,
        column_types: dict[tuple[str, str], str],
        unique_keys: dict[str, tuple[tuple[str, ...], ...]] | None = None,
    ) -> None:
        self.tmappings = tmappings
        self.column_types = column_types
        self.unique_keys = unique_keys or {}
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
        names = table_names.get()
        name = f"m{next(self._names if names is None else names)}"
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
                return TermCols(sa.literal(LITERAL, KIND), lex, tm.datatype or XSD_STRING, tm.language)
            if tm.term_type is TermType.IRI:
                return TermCols(sa.literal(IRI, KIND), lex, lift=self._lift(tm, table, parts))
            return TermCols(sa.literal(BLANK, KIND), lex)
        col = table.source.c[tm.value]
        sql_type = table.types.get(tm.value, "text")
        if tm.geometry_property is not None:  # geo:dimension ... of a geometry column
            datatype, compute = GEOMETRY_PROPERTIES[tm.geometry_property]
            value = compute(col)
            k = case((col.is_not(None), sa.literal(LITERAL, KIND)), else_=sa.null())
            if datatype == XSD_INTEGER:  # an integer whose text is its lexical form
                return TermCols(k, value.cast(sa.Text()), datatype, None, value.cast(sa.Numeric()), shape=_INTEGER)
            return TermCols(k, property_lexical(datatype, value), datatype)
        if tm.term_type is not TermType.LITERAL:
            return TermCols(sa.literal(IRI if tm.term_type is TermType.IRI else BLANK, KIND), col.cast(sa.Text()))
        if tm.language:
            return TermCols(sa.literal(LITERAL, KIND), col.cast(sa.Text()), RDF_LANGSTRING, tm.language.lower())
        datatype = tm.datatype or _natural_datatype(sql_type)
        k = case((col.is_not(None), sa.literal(LITERAL, KIND)), else_=sa.null())
        if sql_type.startswith("geometry"):
            lex = sa.func.ST_AsGeoJSON(col, 15) if datatype == GEOJSON else sa.func.ST_AsText(col)  # type: ignore[assignment]
            return TermCols(k, lex, datatype, None, None, None, col)
        if sql_type.startswith("timestamp"):
            lex = sa.func.to_char(sa.func.timezone("UTC", col), _TS_FORMAT) + "Z"
            return TermCols(k, lex, datatype, None, None, col)
        shape = ("number", datatype) if datatype in _NATURAL_NUMBERS else None
        if sql_type.startswith(("double", "real")):
            # the value as the float column itself, not cast to numeric (a sprintf per row): comparisons with
            # numbers promote to double as XPath does, and indexes on the column apply
            return TermCols(k, col.cast(sa.Text()), datatype, None, col, shape=shape)
        if sql_type.startswith(("integer", "bigint", "smallint", "numeric")):
            return TermCols(k, col.cast(sa.Text()), datatype, None, col.cast(sa.Numeric()), shape=shape)
        if sql_type.startswith("boolean"):
            return TermCols(k, case((col, "true"), else_="false"), datatype)
        return TermCols(k, col.cast(sa.Text()), datatype)

    def bound(self, tm: TermMap, table: MappedTable, cols: TermCols) -> tuple[TermCols, Any]:
        """``cols`` (the term of ``tm``) in rows where it is bound, and the condition for those rows: a column's
        literal has a constant kind there (``col IS NOT NULL``, not ``CASE WHEN col IS NOT NULL THEN 3 END IS
        NOT NULL``), so later nodes and the decoder know it."""
        if tm.kind is TermKind.COLUMN and tm.term_type is TermType.LITERAL:
            return cols.with_(k=sa.literal(LITERAL, KIND)), table.source.c[tm.value].is_not(None)
        return cols, not_null(cols)

    def _lift(self, tm: TermMap, table: MappedTable, sql_parts: list[Any]) -> Lift:
        """The template for the decoder: integer and text columns fetched as they are (``str(int)`` and
        percent-encoding in Python are exactly ``int::text`` and ``esdl_iri_safe``), other columns as the text of
        their placeholder (timestamps: ``to_char`` in the database)."""
        template, parts = [], []
        for p, sql_part in zip(tm.parts, sql_parts, strict=True):
            if not isinstance(p, Column):
                template.append(p.replace("%", "%%"))
                continue
            col = table.source.c[p.name]
            sql_type = table.types.get(p.name, "text")
            if sql_type.startswith(("integer", "bigint", "smallint")):
                template.append("%d")
                parts.append((col, "int"))
            elif sql_type in ("text", "character varying") or sql_type.startswith("character varying("):
                template.append("%s")
                parts.append((col, "text"))
            else:
                template.append("%s")
                parts.append((sql_part, "as_is"))
        return Lift("".join(template), tuple(parts))

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
            subject, bound_s = self.bound(assertion.subject, table, self.term(assertion.subject, table))
            obj, bound_o = self.bound(assertion.object, table, self.term(assertion.object, table))
            where += [bound_s, bound_o]
            pred = constant(URIRef(assertion.predicate))
            env: dict[str, TermCols] = {}
            ok = True
            for term, cols in ((s, subject), (p, pred), (o, obj)):
                if isinstance(term, Variable):
                    if str(term) in env:
                        where.append(same_term(env[str(term)], cols))
                    else:
                        env[str(term)] = cols
                elif isinstance(term, BNode):
                    ok = False  # blank nodes in patterns are variables by the time they get here
                else:
                    where.append(same_term(constant(term), cols))
            if ok:
                columns = [c for v, t in env.items() for c in t.labelled(v)] or [sa.literal(1).label("one")]
                out.append((sa.select(*columns).select_from(table.source).where(*where), env))
        return out


def _field_equal(a: TermCols, b: TermCols, name: str, distinct: bool) -> Any:
    """``a.name = b.name`` (``IS NOT DISTINCT FROM`` when ``distinct``), decided here when both are constants."""
    x, y = static(a, name), static(b, name)
    if x is not UNKNOWN and y is not UNKNOWN:
        return sa.true() if x == y and (distinct or x is not None) else sa.false()
    return a.get(name).is_not_distinct_from(b.get(name)) if distinct else a.get(name) == b.get(name)


def same_term(a: TermCols, b: TermCols) -> Any:
    """The SQL condition that two terms are the same RDF term (constant parts compared in Python, so the
    statement carries no ``NULL IS NOT DISTINCT FROM NULL``)."""
    conds = [
        _field_equal(a, b, "k", False),
        _field_equal(a, b, "v", False),
        _field_equal(a, b, "dt", True),
        _field_equal(a, b, "lang", True),
    ]
    if any(c is sa.false() or isinstance(c, sa.sql.elements.False_) for c in conds):
        return sa.false()
    rest = [c for c in conds if not isinstance(c, sa.sql.elements.True_)]
    return sa.and_(sa.true(), *rest) if rest else sa.true()


def not_null(term: TermCols) -> Any:
    """``k IS NOT NULL`` (nothing when ``k`` is a constant)."""
    k = static(term, "k")
    if k is UNKNOWN:
        return term.get("k").is_not(None)
    return sa.true() if k is not None else sa.false()


def entailed_quads(tbox: Any, quads: Any, predicate: Node, obj: Node) -> Any | None:
    """The quads a pattern with this predicate (and class) matches once the ontology is applied: a union of
    quad-table selects with the columns of ``rdf_quad``, or ``None`` when the ontology adds nothing.

    ``?x a C`` also finds instances of C's subclasses and subjects (objects) of properties whose domain (range)
    is below C; ``?x p ?y`` also finds the pairs of p's subproperties, and of its inverses read backwards.
    """
    from semantic.mapping.tbox import Role

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

    if str(predicate) == RDF_TYPE and isinstance(obj, Variable):  # every type, entailed ones included
        from semantic.sparql.rdfs import type_branches

        typed = type_branches(tbox, quads, select, RDF_TYPE)
        return sa.union(*typed).subquery() if len(typed) > 1 else None
    if str(predicate) == GEOMETRY_VALUE:  # the query-rewrite rule's geometries
        from semantic.sparql.geometry_values import geometry_value_quads

        return sa.union(geometry_value_quads(tbox, quads, select)).subquery()
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
        derived = GEOMETRY_PROPERTIES.get(str(predicate))
        if [r for r in roles if r != Role(str(predicate))] == [] and derived is None:
            return None
        branches = [role_pairs(r, str(predicate)) for r in roles]
        if derived is not None:  # a geometry property: computed from every loaded serialisation's geometry
            datatype, compute = derived
            q = quads.alias()
            value = compute(q.c.o_geom)
            number = value.cast(sa.Numeric()) if datatype == XSD_INTEGER else sa.null()
            override = {"p": str(predicate), "o_kind": LITERAL, "o": property_lexical(datatype, value)}
            override |= {"o_dt": datatype, "o_lang": sa.null(), "o_num": number, "o_ts": sa.null()}
            branches.append(
                select(q, **override, o_geom=sa.null()).where(
                    q.c.p.in_(SERIALIZATIONS), q.c.o_geom.is_not(None), q.c.o_kind == LITERAL
                )
            )
    # UNION (DISTINCT for one branch): an entailed triple is one triple, however it is derived — an instance typed
    # with two subclasses of the class is one instance of it
    return (sa.union(*branches) if len(branches) > 1 else branches[0].distinct()).subquery()
