"""Aggregates of GROUP BY: COUNT, SUM, AVG, MIN, MAX, SAMPLE and GROUP_CONCAT as SQL aggregates over term columns.

SPARQL's rules apply (docs/sparql.md): an unbound value is skipped, a non-number makes SUM/AVG an error, numbers
are promoted as XPath does, and MIN/MAX choose a whole term in the order of ORDER BY. A value whose shape is known
(``TermCols.shape``: a numeric column's values) takes plain SQL aggregates instead.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from rdflib.plugins.sparql.parserutils import CompValue
from rdflib.term import Variable
from sqlalchemy.ext.compiler import compiles

from semantic.errors import UnsupportedFeature
from semantic.sparql.expressions import Compiler, numeric_val, string_val
from semantic.sparql.terms import FIELDS, TermCols
from semantic.sql import case
from semantic.vocab import LITERAL, XSD_DECIMAL, XSD_DOUBLE, XSD_FLOAT, XSD_INTEGER


def aggregate(agg: CompValue, compiler: Compiler, bound: frozenset[str] = frozenset()) -> TermCols:
    """The term of one aggregate (``Aggregate_Count`` ... of rdflib's algebra) over a group's rows.

    ``bound``: variables bound in every row of every group, and no group empty (a GROUP BY's groups over a
    pattern that always binds them): an aggregate of such a variable's numbers is never the empty case.
    """
    name = agg.name.removeprefix("Aggregate_")
    always = isinstance(agg.vars, Variable) and str(agg.vars) in bound
    distinct = bool(agg.distinct)
    n: Any
    if name == "Count":
        if agg.vars == "*" or agg.vars is None:
            n = sa.func.count()
        else:
            t = compiler(agg.vars).term
            if distinct:
                key: Any = sa.func.concat(t.get("k"), "|", t.get("v"), "|", t.get("dt"), "|", t.get("lang"))
                key = case((t.get("k").is_not(None), key), else_=sa.null())
                n = sa.func.count(sa.distinct(key))
            else:  # the bound values: k is NULL exactly when unbound (or an error)
                n = sa.func.count(t.get("k"))
        # never NULL; its canonical lexical form is its text (written here, not by the decoder per row)
        num = n.cast(sa.Numeric())
        return TermCols(_LITERAL, n.cast(sa.Text()), sa.literal(XSD_INTEGER, sa.Text()), None, num, shape=_COUNT)
    t = compiler(agg.vars).term
    if name == "Sample":
        return TermCols(*(sa.func.min(t.get(f)) for f in FIELDS if f != "geom"))
    if name in ("Sum", "Avg"):
        num = t.get("num")
        value: Any = (sa.func.sum if name == "Sum" else sa.func.avg)(sa.distinct(num) if distinct else num)
        if isinstance(agg.vars, Variable) and t.shape and t.shape[0] == "number":
            # numbers of one datatype (never a non-number): the promoted datatype is known here; an
            # aggregate of no value is 0, typed as the general rule below types it
            static = {XSD_DOUBLE: 3, XSD_FLOAT: 2, XSD_DECIMAL: 1}.get(t.shape[1], 0)
            rank_of = max(static, 1) if name == "Avg" else static
            empty = XSD_DECIMAL if name == "Avg" else XSD_INTEGER
            known = {3: XSD_DOUBLE, 2: XSD_FLOAT, 1: XSD_DECIMAL}.get(rank_of, XSD_INTEGER)
            if always:  # some value in every group: neither the empty case nor NULL
                return TermCols(_LITERAL, sa.null().cast(sa.Text()), sa.literal(known, sa.Text()), None, value)
            dt_: Any = case((sa.func.count(num) > 0, known), else_=empty)
            return numeric_val(sa.func.coalesce(value, 0), dt_).term
        rank: Any = sa.func.max(
            case(
                (t.get("dt") == XSD_DOUBLE, 3),
                (t.get("dt") == XSD_FLOAT, 2),
                (t.get("dt") == XSD_DECIMAL, 1),
                else_=0,
            )
        )
        if name == "Avg":
            rank = sa.func.greatest(rank, 1)
        bad = sa.func.bool_or(t.get("k").is_not(None) & t.get("num").is_(None))  # a non-number: error
        dt = case((rank == 3, XSD_DOUBLE), (rank == 2, XSD_FLOAT), (rank == 1, XSD_DECIMAL), else_=XSD_INTEGER)
        value = case((bad, sa.null()), else_=sa.func.coalesce(value, 0))
        return numeric_val(value, dt).term
    if name in ("Min", "Max") and isinstance(agg.vars, Variable) and t.shape and t.shape[0] == "number":
        # every value is a number of one datatype whose lexical form is its text: the extreme value is the
        # extreme term (a plain aggregate, so the grouping can hash instead of sort)
        num = (sa.func.max if name == "Max" else sa.func.min)(t.get("num"))
        k = _LITERAL if always else case((num.is_not(None), _LITERAL), else_=sa.null())
        return TermCols(k, num.cast(sa.Text()), sa.literal(t.shape[1], sa.Text()), None, num, shape=t.shape)
    if name in ("Min", "Max"):
        from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by

        # the whole term of the smallest (largest) value, in SPARQL's order: numbers, dates, then lexical.
        # The group's terms are sorted once as values of the composite type esdl_term (migration 0006); the
        # order puts every number first (then every date), so the chosen term's value is the group's
        # extreme number (or, without numbers, its extreme date)
        order = [t.get("num"), t.get("ts"), t.get("v")]
        order = [o.asc().nulls_last() if name == "Min" else o.desc().nulls_last() for o in order]
        valid = case((t.get("k").is_not(None), 1), else_=0).desc()
        term = sa.cast(sa.func.row(t.get("k"), t.get("v"), t.get("dt"), t.get("lang")), _TERM)
        first = sa.func.array_agg(aggregate_order_by(term, valid, *order), type_=ARRAY(_TERM))[1]
        extreme = sa.func.max if name == "Max" else sa.func.min
        num = extreme(t.get("num"))
        return TermCols(
            _Field(first, "k", sa.SmallInteger()),
            _Field(first, "v", sa.Text()),
            _Field(first, "dt", sa.Text()),
            _Field(first, "lang", sa.Text()),
            num,
            case((num.is_(None), extreme(t.get("ts"))), else_=sa.null()),
        )
    if name == "GroupConcat":
        # (agg.get("separator") would answer "separator" itself: CompValue.get's default is the key)
        sep = " " if agg.separator is None else str(agg.separator)
        text = sa.func.string_agg(sa.distinct(t.get("v")) if distinct else t.get("v"), sa.literal(sep, sa.Text()))
        return string_val(sa.func.coalesce(text, "")).term
    raise UnsupportedFeature(f"aggregate {name}")


_LITERAL = sa.literal(LITERAL, sa.SmallInteger())
_COUNT = ("number", XSD_INTEGER)  # a count's shape (TermCols.shape): an integer whose text is its lexical form


class _TermType(sa.types.UserDefinedType):  # type: ignore[type-arg]
    """PostgreSQL's ``esdl_term`` composite type (migration 0006)."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "esdl_term"


_TERM = _TermType()


class _Field(sa.sql.expression.ColumnElement):  # type: ignore[type-arg]
    """``(composite).field``."""

    inherit_cache = True

    def __init__(self, composite: Any, field: str, type_: Any) -> None:
        self.composite = composite
        self.field = field
        self.type = type_


@compiles(_Field)
def _compile_field(element: _Field, compiler: Any, **kw: Any) -> str:
    return f"({compiler.process(element.composite, **kw)}).{element.field}"
