"""XSD constructor functions (SPARQL 1.1 §17.5 casting): ``xsd:integer(?x)``, ``xsd:double(?x)``...

A cast that XPath does not allow, or a lexical form that is not in the target's lexical space, is an error
(SQL NULL). Numbers are cast by value; strings by their lexical form, checked with the XSD patterns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from semantic.sparql.expressions import Compiler, Val, boolean_val, numeric_val, string_val
from semantic.sparql.terms import INTEGER_TYPES, NUMERIC_TYPES
from semantic.sql import case
from semantic.vocab import IRI, LITERAL, XSD, XSD_BOOLEAN, XSD_DECIMAL, XSD_DOUBLE, XSD_FLOAT, XSD_INTEGER, XSD_STRING

_INTEGER = r"^\s*[+-]?[0-9]+\s*$"
_DECIMAL = r"^\s*[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)\s*$"
_DOUBLE = r"^\s*([+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?|[+-]?INF|NaN)\s*$"
_NUMERIC = sorted(NUMERIC_TYPES)


def _source(compiler: Compiler, args: list[Any]) -> Any:
    if len(args) != 1:
        raise ValueError("an XSD cast takes one argument")
    return compiler(args[0]).term


def _is(t: Any, *datatypes: str) -> Any:
    return (t.get("k") == LITERAL) & t.get("dt").in_(list(datatypes))


def _to_number(target: str, pattern: str) -> Callable[[Compiler, list[Any]], Val]:
    def build(compiler: Compiler, args: list[Any]) -> Val:
        t = _source(compiler, args)
        numeric = (t.get("k") == LITERAL) & t.get("dt").in_(_NUMERIC) & t.get("num").is_not(None)
        text = t.get("v")
        if target == XSD_INTEGER:
            from_number = case(
                (sa.func.abs(t.get("num")) < sa.literal("Infinity", sa.Numeric()), sa.func.trunc(t.get("num"))),
                else_=sa.null(),
            )
        else:
            from_number = t.get("num")
        value = case(
            (numeric, from_number),
            (_is(t, XSD_BOOLEAN), case((text.in_(["true", "1"]), 1), else_=0).cast(sa.Numeric())),
            (_is(t, XSD_STRING) & text.op("~")(pattern), sa.func.trim(text).cast(sa.Numeric())),
            else_=sa.null(),
        )
        return numeric_val(value, sa.literal(target, sa.Text()))

    return build


def _to_string(compiler: Compiler, args: list[Any]) -> Val:
    """``xsd:string(x)`` by XPath's casting rules: an IRI's text; a number's canonical form by value (an integer's
    digits, a decimal's without trailing zeros or a point for a whole number, a double or float in [1e-6, 1e6)
    as that decimal, any other in canonical E notation); a boolean's ``true``/``false``; another literal's
    lexical form. An ill-typed number or boolean, or a blank node, is an error."""
    t = _source(compiler, args)
    num = t.get("num")
    double = num.cast(sa.Double())
    # the double's shortest digits (its text, extra_float_digits 1 for the engine's transactions) as a decimal
    as_decimal = sa.func.trim_scale(double.cast(sa.Text()).cast(sa.Numeric())).cast(sa.Text())
    text = case(
        (t.get("k") == IRI, t.get("v")),
        (t.get("k") != LITERAL, sa.null()),
        (t.get("dt").in_(sorted(INTEGER_TYPES)), sa.func.trunc(num).cast(sa.Text())),
        (t.get("dt") == XSD_DECIMAL, sa.func.trim_scale(num).cast(sa.Text())),
        (
            t.get("dt").in_([XSD_DOUBLE, XSD_FLOAT]),
            case(
                (double == 0, sa.literal("0", sa.Text())),
                ((sa.func.abs(double) >= 1e-6) & (sa.func.abs(double) < 1e6), as_decimal),
                else_=sa.func.esdl_canonical_double(double),
            ),
        ),
        (
            t.get("dt") == XSD_BOOLEAN,
            case((t.get("v").in_(["true", "1"]), "true"), (t.get("v").in_(["false", "0"]), "false"), else_=sa.null()),
        ),
        else_=t.get("v"),
    )
    return string_val(text)


def _to_boolean(compiler: Compiler, args: list[Any]) -> Val:
    t = _source(compiler, args)
    text = t.get("v")
    value = case(
        (_is(t, *_NUMERIC) & t.get("num").is_not(None), t.get("num") != 0),
        (_is(t, XSD_BOOLEAN, XSD_STRING) & text.in_(["true", "1"]), sa.true()),
        (_is(t, XSD_BOOLEAN, XSD_STRING) & text.in_(["false", "0"]), sa.false()),
        else_=sa.null(),
    )
    return boolean_val(value)


CASTS: dict[str, Callable[[Compiler, list[Any]], Val]] = {
    XSD + "integer": _to_number(XSD_INTEGER, _INTEGER),
    XSD + "decimal": _to_number(XSD_DECIMAL, _DECIMAL),
    XSD + "float": _to_number(XSD_FLOAT, _DOUBLE),
    XSD + "double": _to_number(XSD_DOUBLE, _DOUBLE),
    XSD + "string": _to_string,
    XSD + "boolean": _to_boolean,
}
