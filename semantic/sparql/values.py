"""SPARQL values as SQL over term columns: a compiled expression (:class:`Val`), the constructors of boolean,
numeric and string results, XPath numeric type promotion, and the comparisons of terms (``sameTerm``, ``=``,
``<``, ``IN``), with SPARQL's error semantics (an error is SQL ``NULL``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

import sqlalchemy as sa
from rdflib import Literal, URIRef
from sqlalchemy.dialects.postgresql import ARRAY

from semantic.sparql.terms import FIELDS, NUMERIC_TYPES, UNKNOWN, TermCols, constant, static
from semantic.sql import case
from semantic.vocab import (
    IRI,
    LITERAL,
    RDF_LANGSTRING,
    RDF_NIL,
    XSD_BOOLEAN,
    XSD_DECIMAL,
    XSD_DOUBLE,
    XSD_FLOAT,
    XSD_INTEGER,
    XSD_STRING,
)

STRING_TYPES = (XSD_STRING, RDF_LANGSTRING)
LANG_TAG_PATTERN = "^[a-zA-Z]+(-[a-zA-Z0-9]+)*$"  # the shape rdflib accepts for a language tag
KIND = sa.SmallInteger()


@dataclass(frozen=True)
class Val:
    """A compiled expression: its term columns, and its SQL boolean when it is a boolean expression."""

    term: TermCols
    boolean: Any = None


def lit(value: Any, type_: Any = None) -> Any:
    return sa.literal(value, type_) if type_ is not None else sa.literal(value)


def boolean_val(cond: Any) -> Val:
    """A SQL boolean (NULL: error) as an xsd:boolean term."""
    # "NOT a IS NOT NULL" would parse as "NOT (a IS NOT NULL)"; typed boolean for SQLAlchemy (a function's result
    # may be typed otherwise, and NOT of a Text expression is deprecated), the SQL unchanged
    cond = sa.sql.elements.Grouping(sa.type_coerce(cond, sa.Boolean()))
    v = case((cond, lit("true", sa.Text())), (sa.not_(cond), lit("false", sa.Text())), else_=sa.null())
    k = case((cond.is_not(None), lit(LITERAL, KIND)), else_=sa.null())
    return Val(TermCols(k, v, lit(XSD_BOOLEAN, sa.Text())), cond)


def ebv(val: Val) -> Any:
    """The effective boolean value (NULL: error)."""
    if val.boolean is not None:
        return val.boolean
    t = val.term
    numeric = t.get("dt").in_(sorted(NUMERIC_TYPES))
    return case(
        (t.get("k").is_distinct_from(LITERAL), sa.null()),
        (t.get("dt") == XSD_BOOLEAN, t.get("v").in_(["true", "1"])),
        (numeric & t.get("num").is_not(None), (t.get("num") != 0) & (t.get("num") != sa.literal("NaN", sa.Numeric()))),
        (numeric, sa.false()),
        (t.get("dt").in_(STRING_TYPES), sa.func.char_length(t.get("v")) > 0),
        else_=sa.null(),
    )


_PROMOTION = (XSD_INTEGER, XSD_DECIMAL, XSD_FLOAT, XSD_DOUBLE)  # numeric type promotion, lowest first


def numeric_datatype(a: TermCols, b: TermCols, division: bool = False) -> Any:
    """The promoted datatype of a numeric operation (integer, decimal, float, double): known here when both
    datatypes are; otherwise one SQL expression that reads each operand's datatype once (an operand read more
    than once makes nested operations grow exponentially)."""
    floor = 1 if division else 0
    known = [static(t, "dt") for t in (a, b)]
    if all(d is not UNKNOWN for d in known):
        levels = [_PROMOTION.index(d) if d in _PROMOTION[1:] else 0 for d in known]
        return lit(_PROMOTION[max(*levels, floor)], sa.Text())
    promotion = sa.literal(list(_PROMOTION[1:]), ARRAY(sa.Text()))
    ranks = [sa.func.coalesce(sa.func.array_position(promotion, t.get("dt")), 0) for t in (a, b)]
    top = sa.func.greatest(*ranks, floor)
    # (parenthesised: "$1::TEXT[][i]" would be read as a type with bounds, not as a subscript)
    return sa.sql.elements.Grouping(sa.literal(list(_PROMOTION), ARRAY(sa.Text())))[top + 1]


def numeric_val(num: Any, datatype: Any) -> Val:
    """A computed number as a term; its lexical form is made canonical when results are read."""
    k = case((num.is_not(None), lit(LITERAL, KIND)), else_=sa.null())
    return Val(TermCols(k, sa.null().cast(sa.Text()), datatype, None, num))


def computed(t: TermCols) -> bool:
    """Whether ``t`` is a computed number: a value (``num``) and no lexical form (``v`` NULL in every row)."""
    return static(t, "v") is None and static(t, "num") is not None


def settled(terms: list[TermCols]) -> list[TermCols]:
    """Terms that become one binding (the arms of IF and COALESCE, the sides of a UNION, the two sides of a
    join's variable), with a computed number's lexical form written out (:func:`lexical`) where another of them
    has lexical forms of its own: ``v`` of a bound term is NULL only where it is a computed number's in every
    row, which :func:`computed` can tell."""
    flags = [computed(t) for t in terms]
    if all(flags) or not any(flags):
        return terms
    return [t.with_(v=lexical(t)) if flag else t for t, flag in zip(terms, flags, strict=True)]


def lexical(t: TermCols) -> Any:
    """A term's lexical form in SQL, also of a computed number (``v`` NULL, its value in ``num``): the canonical
    form decoding gives it (decode.py), by datatype: an integer's digits, a decimal's digits without trailing
    zeros (and at least one after the point), a double's or float's ``esdl_canonical_double`` (migration 0007)."""
    v = static(t, "v")
    if t.num is None or (v is not UNKNOWN and v is not None):  # no computed number here
        return t.get("v")
    num, dt = t.get("num"), static(t, "dt")
    trimmed = sa.func.trim_scale(num.cast(sa.Numeric())).cast(sa.Text())  # num may be a double column
    forms = {
        "integer": sa.func.trunc(num).cast(sa.Text()),
        "decimal": case((sa.func.strpos(trimmed, ".") > 0, trimmed), else_=sa.func.concat(trimmed, ".0")),
        "double": sa.func.esdl_canonical_double(num.cast(sa.Double())),
    }
    if dt is UNKNOWN:
        form: Any = case(
            (t.get("dt").in_([XSD_DOUBLE, XSD_FLOAT]), forms["double"]),
            (t.get("dt") == XSD_DECIMAL, forms["decimal"]),
            else_=forms["integer"],
        )
    else:
        form = forms["double" if dt in (XSD_DOUBLE, XSD_FLOAT) else "decimal" if dt == XSD_DECIMAL else "integer"]
    return form if v is None else sa.func.coalesce(t.get("v"), form)


def lexical_form(t: TermCols) -> Any:
    """The lexical form to compare terms by: a computed number's written out (:func:`lexical`), any other term's
    own ``v`` (NULL only where unbound: see :func:`settled`)."""
    return lexical(t) if computed(t) else t.get("v")


def chosen(terms: list[TermCols], choice: Callable[[str], Any]) -> TermCols:
    """The term that one of ``terms`` gives per row (``choice`` of a field: its CASE), with the lexical form a
    typed NULL where every one of them is a computed number (so that the result is one too)."""
    fields = [sa.null().cast(sa.Text()) if f == "v" and all(computed(t) for t in terms) else choice(f) for f in FIELDS]
    return TermCols(*fields)


MAX_FUNCTION_ARGS = 100  # PostgreSQL's FUNC_MAX_ARGS


def concat_texts(texts: list[Any]) -> Any:
    """``concat`` of any number of texts (PostgreSQL takes at most 100 arguments a call: nested beyond)."""
    while len(texts) > MAX_FUNCTION_ARGS:
        texts = [sa.func.concat(*texts[i : i + MAX_FUNCTION_ARGS]) for i in range(0, len(texts), MAX_FUNCTION_ARGS)]
    return sa.func.concat(*texts)


def string_val(text: Any, datatype: Any = None, lang: Any = None) -> Val:
    """A computed string as a term (``xsd:string`` unless a language or datatype is given)."""
    k = case((text.is_not(None), lit(LITERAL, KIND)), else_=sa.null())
    if datatype is None:
        datatype = case((lang.is_not(None), RDF_LANGSTRING), else_=XSD_STRING) if lang is not None else XSD_STRING
    return Val(TermCols(k, text, datatype, lang))


def is_string(t: TermCols) -> Any:
    return (t.get("k") == LITERAL) & t.get("dt").in_(STRING_TYPES)


def _both_numeric(a: TermCols, b: TermCols) -> Any:
    return a.get("num").is_not(None) & b.get("num").is_not(None)


def term_equal(a: TermCols, b: TermCols) -> Any:
    """``sameTerm``: identical kind, lexical form, datatype and language (false, never an error, when bound); a
    computed number's lexical form is the one decoding gives it (:func:`lexical`)."""
    return (
        (a.get("k") == b.get("k"))
        & (lexical_form(a) == lexical_form(b))
        & a.get("dt").is_not_distinct_from(b.get("dt"))
        & a.get("lang").is_not_distinct_from(b.get("lang"))
    )


def equals(a: TermCols, b: TermCols) -> Any:
    """SPARQL ``=``: numeric and dateTime values compare by value, other terms by RDF term equality."""
    known = a.get("dt").in_(sorted(NUMERIC_TYPES | {XSD_BOOLEAN, XSD_STRING, RDF_LANGSTRING})) & b.get("dt").in_(
        sorted(NUMERIC_TYPES | {XSD_BOOLEAN, XSD_STRING, RDF_LANGSTRING})
    )
    return case(
        (a.get("k").is_(None) | b.get("k").is_(None), sa.null()),
        (_both_numeric(a, b), a.get("num") == b.get("num")),
        (a.get("ts").is_not(None) & b.get("ts").is_not(None), a.get("ts") == b.get("ts")),
        ((a.get("k") != LITERAL) | (b.get("k") != LITERAL), term_equal(a, b)),
        (term_equal(a, b), sa.true()),
        # different literals: false when both datatypes are understood, otherwise a type error
        (known, sa.false()),
        else_=sa.null(),
    )


def compare(a: TermCols, b: TermCols, op: str) -> Any:
    """SPARQL ``<``, ``<=``, ``>``, ``>=`` on numbers, dateTimes, strings and booleans (NULL otherwise)."""
    fn: Callable[[Any, Any], Any] = {
        "<": lambda x, y: x < y,
        "<=": lambda x, y: x <= y,
        ">": lambda x, y: x > y,
        ">=": lambda x, y: x >= y,
    }[op]
    # a constant number or dateTime on one side: the other branches cannot apply (and a CASE hides the
    # comparison from indexes and the planner's estimates)
    for x, y, f in ((a, b, fn), (b, a, lambda u, v: fn(v, u))):
        if static(y, "num") not in (None, UNKNOWN) and static(y, "ts") is None:
            return f(x.get("num"), y.get("num"))
        if static(y, "ts") not in (None, UNKNOWN) and static(y, "num") is None:
            return f(x.get("ts"), y.get("ts"))
    plain = (a.get("dt") == XSD_STRING) & (b.get("dt") == XSD_STRING)
    lang = (a.get("dt") == RDF_LANGSTRING) & (b.get("dt") == RDF_LANGSTRING) & (a.get("lang") == b.get("lang"))
    both_bool = (a.get("dt") == XSD_BOOLEAN) & (b.get("dt") == XSD_BOOLEAN)
    return case(
        (_both_numeric(a, b), fn(a.get("num"), b.get("num"))),
        (a.get("ts").is_not(None) & b.get("ts").is_not(None), fn(a.get("ts"), b.get("ts"))),
        ((a.get("k") == LITERAL) & (b.get("k") == LITERAL) & (plain | lang), fn(a.get("v"), b.get("v"))),
        (both_bool, fn(a.get("v").in_(["true", "1"]), b.get("v").in_(["true", "1"]))),
        else_=sa.null(),
    )


def in_constants(a: TermCols, items: list[Any]) -> Any:
    """``a IN (items)`` as one comparison with an array parameter, where the items are all IRIs, all numbers or
    all simple strings: the same truth value (and the same errors) as :func:`equals` with each item ORed, but a
    few parameters however long the list. ``None`` for other lists."""
    unbound = a.get("k").is_(None)
    if all(isinstance(x, URIRef) for x in items):
        iris = sa.literal(sorted({str(x) for x in items}), ARRAY(sa.Text()))
        return case((unbound, sa.null()), else_=(a.get("k") == IRI) & (a.get("v") == sa.func.any(iris)))
    if not all(isinstance(x, Literal) for x in items):
        return None
    known = a.get("dt").in_(sorted(NUMERIC_TYPES | {XSD_BOOLEAN, XSD_STRING, RDF_LANGSTRING}))
    consts = [constant(x) for x in items]
    nums = [static(c, "num") for c in consts]
    if all(isinstance(n, Decimal) and n.is_finite() for n in nums):
        values = sa.literal(sorted(set(nums)), ARRAY(sa.Numeric()))
        return case(
            (unbound, sa.null()),
            (a.get("num").is_not(None), a.get("num") == sa.func.any(values)),
            ((a.get("k") != LITERAL) | known, sa.false()),
            else_=sa.null(),
        )
    if all(static(c, "dt") == XSD_STRING and static(c, "lang") is None for c in consts):
        texts = sa.literal(sorted({str(x) for x in items}), ARRAY(sa.Text()))
        same = (a.get("dt") == XSD_STRING) & a.get("lang").is_(None) & (a.get("v") == sa.func.any(texts))
        return case(
            (unbound, sa.null()),
            (a.get("k") != LITERAL, sa.false()),
            (same, sa.true()),
            (known, sa.false()),
            else_=sa.null(),
        )
    return None


_NIL = RDF_NIL


def arg_list(args: Any) -> list[Any]:
    """An argument list of rdflib's algebra: a list, one expression, or ``rdf:nil`` for ``()``."""
    if args is None or (isinstance(args, URIRef) and str(args) == _NIL):
        return []
    return list(args) if isinstance(args, list | tuple) else [args]


class Compiling(Protocol):
    """What a builtin function or an extension function needs of the expression compiler
    (:class:`semantic.sparql.expressions.Compiler`)."""

    env: dict[str, TermCols]
    base: str | None

    def __call__(self, expr: Any) -> Val: ...

    def ebv(self, expr: Any) -> Any: ...
