"""SPARQL's string functions (SPARQL 1.1 §17.4.3) as SQL over term columns: :data:`STRING_FUNCTIONS`, part of
the builtins' table (:data:`semantic.sparql.builtin_functions.BUILTINS`). An argument that is not a string
literal, or two arguments whose languages are not compatible, is an error: SQL ``NULL``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from rdflib.plugins.sparql.parserutils import CompValue

from semantic.errors import UnsupportedFeature
from semantic.sparql.terms import TermCols
from semantic.sparql.values import (
    KIND,
    LANG_TAG_PATTERN,
    Compiling,
    Val,
    arg_list,
    boolean_val,
    concat_texts,
    is_string,
    lit,
    numeric_val,
    string_val,
)
from semantic.sql import case
from semantic.vocab import (
    IRI,
    LITERAL,
    RDF_LANGSTRING,
    XSD_INTEGER,
    XSD_STRING,
)


def _Builtin_REGEX(c: Compiling, e: CompValue) -> Val:
    text, pattern = c(e.text).term, c(e.pattern).term
    flags = "" if e.flags is None else str(e.flags)
    if set(flags) - {"i", "s", "m", "x"}:
        raise UnsupportedFeature(f"REGEX flags {flags!r}")
    op = "~*" if "i" in flags else "~"
    prefix = "".join(f for f in flags if f in "sx")
    # (concat, not "||": "v ~ '(?x)' || p" would read as "(v ~ '(?x)') || p")
    pat = pattern.get("v") if not prefix else sa.func.concat(sa.literal(f"(?{prefix})", sa.Text()), pattern.get("v"))
    match = text.get("v").op(op)(pat)
    return boolean_val(case((is_string(text), match), else_=sa.null()))


def _Builtin_STRLEN(c: Compiling, e: CompValue) -> Val:
    t = c(e.arg).term
    num = case((is_string(t), sa.func.char_length(t.get("v"))), else_=sa.null()).cast(sa.Numeric())
    return numeric_val(num, lit(XSD_INTEGER, sa.Text()))


def _case_change(c: Compiling, e: CompValue, fn: Any) -> Val:
    t = c(e.arg).term
    return string_val(case((is_string(t), fn(t.get("v"))), else_=sa.null()), t.get("dt"), t.get("lang"))


def _Builtin_UCASE(c: Compiling, e: CompValue) -> Val:
    return _case_change(c, e, sa.func.upper)


def _Builtin_LCASE(c: Compiling, e: CompValue) -> Val:
    return _case_change(c, e, sa.func.lower)


def _string_test(c: Compiling, e: CompValue, test: Callable[[Any, Any], Any]) -> Val:
    a, b = c(e.arg1).term, c(e.arg2).term
    compatible = is_string(a) & is_string(b) & ((b.get("dt") == XSD_STRING) | (a.get("lang") == b.get("lang")))
    return boolean_val(case((compatible, test(a.get("v"), b.get("v"))), else_=sa.null()))


def _Builtin_CONTAINS(c: Compiling, e: CompValue) -> Val:
    return _string_test(c, e, lambda x, y: sa.func.strpos(x, y) > 0)


def _Builtin_STRSTARTS(c: Compiling, e: CompValue) -> Val:
    return _string_test(c, e, lambda x, y: sa.func.left(x, sa.func.char_length(y)) == y)


def _Builtin_STRENDS(c: Compiling, e: CompValue) -> Val:
    return _string_test(c, e, lambda x, y: sa.func.right(x, sa.func.char_length(y)) == y)


def _Builtin_CONCAT(c: Compiling, e: CompValue) -> Val:
    parts = [c(a).term for a in arg_list(e.arg)]
    if not parts:
        return string_val(lit("", sa.Text()))
    ok = sa.and_(*(is_string(p) for p in parts))
    text = case((ok, concat_texts([p.get("v") for p in parts])), else_=sa.null())
    same_lang = sa.and_(*(p.get("lang") == parts[0].get("lang") for p in parts[1:])) if len(parts) > 1 else None
    lang = parts[0].get("lang") if same_lang is None else case((same_lang, parts[0].get("lang")), else_=None)
    return string_val(text, None, lang)


def _Builtin_ENCODE_FOR_URI(c: Compiling, e: CompValue) -> Val:
    """Every character but the unreserved ones as %XX of its UTF-8 bytes."""
    t = c(e.arg).term
    chars = (
        sa.func.regexp_split_to_table(t.get("v"), "").table_valued("ch", with_ordinality="n").render_derived(name="c")
    )
    ch = chars.c.ch
    encoded = case(
        (ch.regexp_match("^[A-Za-z0-9._~-]$"), ch),
        else_=sa.func.upper(
            sa.func.regexp_replace(
                sa.func.encode(sa.func.convert_to(ch, "UTF8"), "hex"), "(..)", sa.text("'%\\1'"), "g"
            )
        ),
    )
    from sqlalchemy.dialects.postgresql import aggregate_order_by

    joined = sa.select(
        sa.func.coalesce(sa.func.string_agg(encoded, aggregate_order_by(sa.literal("", sa.Text()), chars.c.n)), "")
    ).scalar_subquery()
    return string_val(case((is_string(t), joined), else_=sa.null()))


def _Builtin_SUBSTR(c: Compiling, e: CompValue) -> Val:
    t = c(e.arg).term
    start = c(e.start).term.get("num")
    # XPath substring: characters at positions >= round(start) and < round(start) + round(length)
    first = sa.func.round(start)
    if e.length is None:
        text = sa.func.substr(t.get("v"), sa.func.greatest(first, 1).cast(sa.Integer()))
    else:
        last = first + sa.func.round(c(e.length).term.get("num"))
        lo = sa.func.greatest(first, 1)
        text = sa.func.substr(t.get("v"), lo.cast(sa.Integer()), sa.func.greatest(last - lo, 0).cast(sa.Integer()))
    return string_val(case((is_string(t), text), else_=sa.null()), t.get("dt"), t.get("lang"))


def _Builtin_REPLACE(c: Compiling, e: CompValue) -> Val:
    t = c(e.arg).term
    pattern, replacement = c(e.pattern).term.get("v"), c(e.replacement).term.get("v")
    flags = "g" + ("" if e.flags is None else str(e.flags))
    if set(flags) - {"g", "i", "s", "m", "x"}:
        raise UnsupportedFeature(f"REPLACE flags {flags!r}")
    # XPath uses $1 for groups, PostgreSQL \1
    repl = sa.func.regexp_replace(replacement, r"\$(\d)", r"\\\1", "g")
    text = sa.func.regexp_replace(t.get("v"), pattern, repl, flags)
    return string_val(case((is_string(t), text), else_=sa.null()), t.get("dt"), t.get("lang"))


def _before_after(c: Compiling, e: CompValue, after: bool) -> Val:
    a, b = c(e.arg1).term, c(e.arg2).term
    pos = sa.func.strpos(a.get("v"), b.get("v"))
    part = (
        sa.func.substr(a.get("v"), pos + sa.func.char_length(b.get("v")))
        if after
        else sa.func.left(a.get("v"), pos - 1)
    )
    ok = is_string(a) & is_string(b) & ((b.get("dt") == XSD_STRING) | (a.get("lang") == b.get("lang")))
    found = pos > 0
    # an empty result is a simple literal; otherwise it keeps the first argument's language
    text = case((ok & found, part), (ok, lit("", sa.Text())), else_=sa.null())
    lang = case((found & (part != ""), a.get("lang")), else_=sa.null())
    return string_val(text, None, lang)


def _Builtin_STRBEFORE(c: Compiling, e: CompValue) -> Val:
    return _before_after(c, e, False)


def _Builtin_STRAFTER(c: Compiling, e: CompValue) -> Val:
    return _before_after(c, e, True)


def _Builtin_STRDT(c: Compiling, e: CompValue) -> Val:
    t, d = c(e.arg1).term, c(e.arg2).term
    ok = (t.get("k") == LITERAL) & (t.get("dt") == XSD_STRING) & (d.get("k") == IRI)
    return Val(TermCols(case((ok, lit(LITERAL, KIND)), else_=sa.null()), t.get("v"), d.get("v")))


def _Builtin_STRLANG(c: Compiling, e: CompValue) -> Val:
    t, lang = c(e.arg1).term, c(e.arg2).term
    # a tag that is not a language tag (BCP 47's shape, as rdflib checks it) is an error: unbound
    tag_ok = lang.get("v").op("~")(sa.literal(LANG_TAG_PATTERN, sa.Text()))
    ok = (t.get("k") == LITERAL) & (t.get("dt") == XSD_STRING) & (lang.get("k") == LITERAL) & tag_ok
    k = case((ok, lit(LITERAL, KIND)), else_=sa.null())
    return Val(TermCols(k, t.get("v"), lit(RDF_LANGSTRING, sa.Text()), sa.func.lower(lang.get("v"))))


STRING_FUNCTIONS: dict[str, Callable[[Any, CompValue], Val]] = {
    "Builtin_REGEX": _Builtin_REGEX,
    "Builtin_STRLEN": _Builtin_STRLEN,
    "Builtin_UCASE": _Builtin_UCASE,
    "Builtin_LCASE": _Builtin_LCASE,
    "Builtin_CONTAINS": _Builtin_CONTAINS,
    "Builtin_STRSTARTS": _Builtin_STRSTARTS,
    "Builtin_STRENDS": _Builtin_STRENDS,
    "Builtin_CONCAT": _Builtin_CONCAT,
    "Builtin_ENCODE_FOR_URI": _Builtin_ENCODE_FOR_URI,
    "Builtin_SUBSTR": _Builtin_SUBSTR,
    "Builtin_REPLACE": _Builtin_REPLACE,
    "Builtin_STRBEFORE": _Builtin_STRBEFORE,
    "Builtin_STRAFTER": _Builtin_STRAFTER,
    "Builtin_STRDT": _Builtin_STRDT,
    "Builtin_STRLANG": _Builtin_STRLANG,
}
"""The string functions by the name of rdflib's algebra node."""
