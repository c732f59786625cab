"""SPARQL's builtin functions (SPARQL 1.1 §17.4) as SQL over term columns, dispatched through one table
(:data:`BUILTINS`, like the casts' and the GeoSPARQL functions'), each taking the compiler and rdflib's node.
An argument of the wrong kind or datatype is an error: SQL ``NULL``. The string functions are in
:mod:`semantic.sparql.string_functions`."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import sqlalchemy as sa
from rdflib.plugins.sparql.parserutils import CompValue

from semantic.sparql.string_functions import STRING_FUNCTIONS
from semantic.sparql.terms import TermCols
from semantic.sparql.values import (
    KIND,
    Compiling,
    Val,
    arg_list,
    boolean_val,
    chosen,
    is_string,
    lexical,
    lexical_form,
    lit,
    numeric_val,
    settled,
    string_val,
    term_equal,
)
from semantic.sql import case
from semantic.vocab import (
    BLANK,
    IRI,
    LITERAL,
    XSD_DATETIME,
    XSD_DAYTIME_DURATION,
    XSD_DECIMAL,
    XSD_DOUBLE,
    XSD_INTEGER,
    XSD_STRING,
)

_TIMEZONE = "(Z|[+-][0-9]{2}:[0-9]{2})$"
_BNODE = ("bnode", None)  # TermCols.shape of a blank node made by BNODE (not part of a solution's identity)


def _Builtin_BOUND(c: Compiling, e: CompValue) -> Val:
    return boolean_val(c(e.arg).term.get("k").is_not(None))


def _kind_test(c: Compiling, e: CompValue, kind: int) -> Val:
    k = c(e.arg).term.get("k")
    return boolean_val(case((k.is_(None), sa.null()), else_=k == kind))


def _Builtin_isIRI(c: Compiling, e: CompValue) -> Val:
    return _kind_test(c, e, IRI)


def _Builtin_isBLANK(c: Compiling, e: CompValue) -> Val:
    return _kind_test(c, e, 2)


def _Builtin_isLITERAL(c: Compiling, e: CompValue) -> Val:
    return _kind_test(c, e, LITERAL)


def _Builtin_isNUMERIC(c: Compiling, e: CompValue) -> Val:
    t = c(e.arg).term
    return boolean_val(
        case((t.get("k").is_(None), sa.null()), else_=t.get("num").is_not(None) & (t.get("k") == LITERAL))
    )


def _Builtin_sameTerm(c: Compiling, e: CompValue) -> Val:
    a, b = c(e.arg1).term, c(e.arg2).term
    return boolean_val(case((a.get("k").is_(None) | b.get("k").is_(None), sa.null()), else_=term_equal(a, b)))


def _Builtin_STR(c: Compiling, e: CompValue) -> Val:
    t = c(e.arg).term
    return string_val(case((t.get("k").in_([IRI, LITERAL]), lexical(t)), else_=sa.null()))


def _Builtin_LANG(c: Compiling, e: CompValue) -> Val:
    t = c(e.arg).term
    return string_val(case((t.get("k") == LITERAL, sa.func.coalesce(t.get("lang"), "")), else_=sa.null()))


def _Builtin_DATATYPE(c: Compiling, e: CompValue) -> Val:
    t = c(e.arg).term
    v = case((t.get("k") == LITERAL, t.get("dt")), else_=sa.null())
    return Val(TermCols(case((v.is_not(None), lit(IRI, KIND)), else_=sa.null()), v))


def _Builtin_LANGMATCHES(c: Compiling, e: CompValue) -> Val:
    tag, pattern = c(e.arg1).term.get("v"), c(e.arg2).term.get("v")
    low_tag, low_pat = sa.func.lower(tag), sa.func.lower(pattern)
    return boolean_val(
        case(
            (low_pat == "*", low_tag != ""),
            else_=(low_tag == low_pat) | low_tag.startswith(low_pat + "-"),
        )
    )


def _Builtin_IF(c: Compiling, e: CompValue) -> Val:
    cond = c.ebv(e.arg1)
    a, b = settled([c(e.arg2).term, c(e.arg3).term])
    return Val(chosen([a, b], lambda f: case((cond, a.get(f)), (sa.not_(cond), b.get(f)), else_=sa.null())))


def _Builtin_COALESCE(c: Compiling, e: CompValue) -> Val:
    terms = settled([c(a).term for a in arg_list(e.arg)])
    if not terms:  # COALESCE(): an error
        return Val(TermCols(sa.null().cast(KIND), sa.null().cast(sa.Text())))
    return Val(chosen(terms, lambda f: case(*((t.get("k").is_not(None), t.get(f)) for t in terms), else_=sa.null())))


def _math(c: Compiling, e: CompValue, fn: Any) -> Val:
    t = c(e.arg).term
    return numeric_val(fn(t.get("num")), t.get("dt"))


def _Builtin_ABS(c: Compiling, e: CompValue) -> Val:
    return _math(c, e, sa.func.abs)


def _Builtin_CEIL(c: Compiling, e: CompValue) -> Val:
    return _math(c, e, sa.func.ceil)


def _Builtin_FLOOR(c: Compiling, e: CompValue) -> Val:
    return _math(c, e, sa.func.floor)


def _Builtin_ROUND(c: Compiling, e: CompValue) -> Val:
    return _math(c, e, lambda x: sa.func.floor(x + sa.literal(0.5, sa.Numeric())))


_DATE_PARTS = {"YEAR": "year", "MONTH": "month", "DAY": "day", "HOURS": "hour", "MINUTES": "minute"}
"""The date-part builtins (SECONDS is a decimal, its own function) and the ``date_part`` field each reads."""


def _date_part(c: Compiling, e: CompValue, part: str) -> Val:
    ts = c(e.arg).term.get("ts")
    return numeric_val(sa.func.date_part(part, sa.func.timezone("UTC", ts)).cast(sa.Numeric()), XSD_INTEGER)


def _Builtin_TZ(c: Compiling, e: CompValue) -> Val:
    """The timezone part of an xsd:dateTime's lexical form (``""`` when it has none)."""
    t = c(e.arg).term
    zone = sa.func.coalesce(sa.func.substring(t.get("v"), _TIMEZONE), "")
    return string_val(case((t.get("dt") == XSD_DATETIME, zone), else_=sa.null()))


def _Builtin_TIMEZONE(c: Compiling, e: CompValue) -> Val:
    """An xsd:dateTime's timezone as an xsd:dayTimeDuration (``PT0S`` for ``Z``; an error without one)."""
    t = c(e.arg).term
    zone = sa.func.substring(t.get("v"), _TIMEZONE)
    hours = sa.func.substring(zone, 2, 2).cast(sa.Integer())
    minutes = sa.func.substring(zone, 5, 2).cast(sa.Integer())
    sign = case((sa.func.left(zone, 1) == "-", "-"), else_="")
    parts = sa.func.concat(
        sign,
        "PT",
        case((hours > 0, sa.func.concat(hours.cast(sa.Text()), "H")), else_=""),
        case((minutes > 0, sa.func.concat(minutes.cast(sa.Text()), "M")), else_=""),
    )
    duration = case(
        (zone == "Z", "PT0S"), ((hours == 0) & (minutes == 0), "PT0S"), (zone.is_not(None), parts), else_=sa.null()
    )
    text = case((t.get("dt") == XSD_DATETIME, duration), else_=sa.null())
    k = case((text.is_not(None), lit(LITERAL, KIND)), else_=sa.null())
    return Val(TermCols(k, text, lit(XSD_DAYTIME_DURATION, sa.Text())))


def _Builtin_IRI(c: Compiling, e: CompValue) -> Val:
    """``IRI(x)``: an IRI itself; a simple or xsd:string literal as an IRI, resolved against the base IRI
    (RFC 3986, ``esdl_resolve_iri``: migration 0008); anything else an error."""
    t = c(e.arg).term
    base = sa.literal(c.base, sa.Text()) if c.base is not None else sa.null().cast(sa.Text())
    v = case(
        (t.get("k") == IRI, t.get("v")),
        (is_string(t) & t.get("lang").is_(None), sa.func.esdl_resolve_iri(t.get("v"), base)),
        else_=sa.null(),
    )
    return Val(TermCols(case((v.is_not(None), lit(IRI, KIND)), else_=sa.null()), v))


def _Builtin_BNODE(c: Compiling, e: CompValue) -> Val:
    """``BNODE()``: a new blank node at every call; ``BNODE(s)`` of a simple or xsd:string literal: one blank
    node per string and solution. The label is an MD5 of the statement's start time, the solution (the terms of
    the variables in scope, but those that are themselves blank nodes made here) and the string: another
    solution or another execution gives another node; two equal solutions of one result share theirs."""
    if "arg" not in e:  # (CompValue.get of a missing key answers the key's name)
        label: Any = sa.func.concat("esdlb", sa.func.replace(sa.func.gen_random_uuid().cast(sa.Text()), "-", ""))
        return Val(TermCols(lit(BLANK, KIND), label, shape=_BNODE))
    t = c(e.arg).term
    fields = [
        f
        for _, term in sorted(c.env.items())
        if term.shape != _BNODE
        for f in (
            term.get("k"),
            lexical_form(term),
            term.get("dt"),
            term.get("lang"),
        )
    ]
    solution = sa.func.row(*fields).cast(sa.Text()) if fields else sa.literal("", sa.Text())
    digest = sa.func.md5(
        sa.func.concat_ws(chr(31), sa.func.statement_timestamp().cast(sa.Text()), solution, t.get("v"))
    )
    label = case((is_string(t) & t.get("lang").is_(None), sa.func.concat("esdlb", digest)), else_=sa.null())
    return Val(TermCols(case((label.is_not(None), lit(BLANK, KIND)), else_=sa.null()), label, shape=_BNODE))


def _Builtin_SECONDS(c: Compiling, e: CompValue) -> Val:
    ts = c(e.arg).term.get("ts")
    return numeric_val(sa.func.date_part("second", sa.func.timezone("UTC", ts)).cast(sa.Numeric()), XSD_DECIMAL)


def _Builtin_NOW(c: Compiling, e: CompValue) -> Val:
    now = sa.func.statement_timestamp()
    text = sa.func.to_char(sa.func.timezone("UTC", now), 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
    return Val(TermCols(lit(LITERAL, KIND), text, lit(XSD_DATETIME, sa.Text()), None, None, now))


def _Builtin_RAND(c: Compiling, e: CompValue) -> Val:
    return numeric_val(sa.func.random().cast(sa.Numeric()), lit(XSD_DOUBLE, sa.Text()))


def _Builtin_UUID(c: Compiling, e: CompValue) -> Val:
    text = sa.literal("urn:uuid:", sa.Text()) + sa.func.gen_random_uuid().cast(sa.Text())
    return Val(TermCols(lit(IRI, KIND), text))


def _Builtin_STRUUID(c: Compiling, e: CompValue) -> Val:
    return string_val(sa.func.gen_random_uuid().cast(sa.Text()))


def _digest(c: Compiling, e: CompValue, fn: str) -> Val:
    t = c(e.arg).term
    raw = sa.func.convert_to(t.get("v"), "UTF8")
    if fn == "md5":
        digest = sa.func.md5(t.get("v"))
    elif fn == "sha1":  # pgcrypto's (migration 0009)
        digest = sa.func.encode(sa.func.digest(raw, "sha1"), "hex")
    else:
        digest = sa.func.encode(getattr(sa.func, fn)(raw), "hex")
    return string_val(case(((t.get("k") == LITERAL) & (t.get("dt") == XSD_STRING), digest), else_=sa.null()))


BUILTINS: dict[str, Callable[[Any, CompValue], Val]] = {
    **STRING_FUNCTIONS,
    "Builtin_BOUND": _Builtin_BOUND,
    "Builtin_isIRI": _Builtin_isIRI,
    "Builtin_isBLANK": _Builtin_isBLANK,
    "Builtin_isLITERAL": _Builtin_isLITERAL,
    "Builtin_isNUMERIC": _Builtin_isNUMERIC,
    "Builtin_sameTerm": _Builtin_sameTerm,
    "Builtin_STR": _Builtin_STR,
    "Builtin_LANG": _Builtin_LANG,
    "Builtin_DATATYPE": _Builtin_DATATYPE,
    "Builtin_LANGMATCHES": _Builtin_LANGMATCHES,
    "Builtin_IF": _Builtin_IF,
    "Builtin_COALESCE": _Builtin_COALESCE,
    "Builtin_ABS": _Builtin_ABS,
    "Builtin_CEIL": _Builtin_CEIL,
    "Builtin_FLOOR": _Builtin_FLOOR,
    "Builtin_ROUND": _Builtin_ROUND,
    "Builtin_TZ": _Builtin_TZ,
    "Builtin_TIMEZONE": _Builtin_TIMEZONE,
    "Builtin_IRI": _Builtin_IRI,
    "Builtin_BNODE": _Builtin_BNODE,
    **{f"Builtin_{name}": partial(_date_part, part=part) for name, part in _DATE_PARTS.items()},
    "Builtin_SECONDS": _Builtin_SECONDS,
    "Builtin_NOW": _Builtin_NOW,
    "Builtin_RAND": _Builtin_RAND,
    "Builtin_UUID": _Builtin_UUID,
    "Builtin_STRUUID": _Builtin_STRUUID,
    **{f"Builtin_{fn.upper()}": partial(_digest, fn=fn) for fn in ("md5", "sha1", "sha256", "sha384", "sha512")},
    "Builtin_isURI": _Builtin_isIRI,
    "Builtin_URI": _Builtin_IRI,
}
"""The SPARQL builtin functions by the name of rdflib's algebra node (``Builtin_STR``...), each taking the
compiler and the node."""
