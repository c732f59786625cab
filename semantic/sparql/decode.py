"""The last stage: result rows back into rdflib terms.

A query's plan (``engine._final``) says, for each projected variable, where each of its term fields comes from:
a column of the row, or a constant when the field is the same in every row. Decoding works a variable at a
time over all rows, with a reader chosen for what the plan fixes: an IRI whose kind is constant is one
``str.__new__`` per row, a literal whose datatype is constant skips rdflib's parsing where rdflib would keep
the lexical form anyway. Any other shape goes through :func:`term`, which handles every field combination.

The terms are the ones ``URIRef(...)`` and ``Literal(..., normalize=False)`` build, equal in value, datatype,
language, hash and ``ill_typed`` (tests/semantic/sparql/test_sparql_engine.py checks each shortcut against rdflib).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Sequence
from decimal import Decimal
from functools import partial
from operator import itemgetter
from typing import Any

from rdflib import Literal, URIRef
from rdflib.term import Node

from semantic.sparql.terms import INTEGER_TYPES, canonical_double, canonical_number, to_rdflib
from semantic.vocab import IRI, LITERAL, XSD_DECIMAL, XSD_DOUBLE, XSD_FLOAT, XSD_INTEGER, XSD_STRING

AS_TEXT = -2  # the index of ``num`` when the number is the lexical form's own (an integer or double column's text)
DOUBLE_TEXT = -3  # the index of ``num`` when ``v`` is the database's text of a computed double (its shortest
# digits, extra_float_digits 1), whose canonical form is the lexical form

# per variable: (name, ((index, constant) for k, v, dt, lang, num), lifted); index -1: the field is the constant;
# lifted: None, or an IRI template and its placeholders' (index, kind) (see terms.Lift), which give v
Fields = tuple[tuple[int, Any], ...]
Lifted = tuple[str, tuple[tuple[int, str], ...]] | None
Plan = tuple[tuple[str, Fields, Lifted], ...]

# esdl_iri_safe as a str.translate table: every ASCII character but the unreserved ones as %XX (the database's
# text has no NUL), the rest kept
IRI_SAFE = {c: f"%{c:02X}" for c in range(128) if not (chr(c).isalnum() or chr(c) in "-._~")}

_DATATYPES: dict[str, tuple[URIRef, bool]] = {}


def datatype_kind(datatype: str) -> tuple[URIRef, bool]:
    """The datatype's URIRef, and whether rdflib keeps its literals as written with no Python value (a datatype
    it does not recognise, such as geo:wktLiteral): asked of rdflib itself, once per datatype."""
    known = _DATATYPES.get(datatype)
    if known is not None:
        return known
    iri = URIRef(datatype)
    log = logging.getLogger("rdflib.term")
    disabled, log.disabled = log.disabled, True  # a recognised datatype logs (or warns) that " x " is ill-typed
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            probe = Literal(" x ", datatype=iri, normalize=False)
    finally:
        log.disabled = disabled
    as_written = str(probe) == " x " and probe.value is None and probe.ill_typed is None
    return _DATATYPES.setdefault(datatype, (iri, as_written))


# the datatypes of computed numbers (arithmetic, aggregates), with the Python type of rdflib's value
_COMPUTED: dict[str, Any] = {
    **{t: int for t in INTEGER_TYPES},
    XSD_DECIMAL: Decimal,
    XSD_DOUBLE: float,
    XSD_FLOAT: float,
}


def _computed(num: Any, datatype: str) -> Literal:
    """A computed number (no lexical form in SQL) in its canonical form, as rdflib builds it from that form."""
    if datatype == XSD_DOUBLE and type(num) is float and num - num == 0:  # finite: its value is the float
        return _literal(canonical_double(num), _XSD_DOUBLE, num)
    if datatype in (XSD_DOUBLE, XSD_FLOAT) and isinstance(num, float):
        lexical = canonical_double(num)
    elif datatype in INTEGER_TYPES and (type(num) is int or (isinstance(num, Decimal) and num == num.to_integral())):
        whole = int(num)  # a count: its digits
        return _literal(str(whole), datatype_kind(datatype)[0], whole)
    else:
        lexical = canonical_number(Decimal(num), datatype)
    iri = datatype_kind(datatype)[0]
    try:
        value = _COMPUTED[datatype](lexical)
    except (ValueError, ArithmeticError):  # NaN / INF: rdflib's own reading
        return Literal(lexical, datatype=iri, normalize=False)
    return _literal(lexical, iri, value)


_XSD_DOUBLE = URIRef(XSD_DOUBLE)


def _double(text: str) -> Literal:
    """A computed double from PostgreSQL's text of it, in the canonical form :func:`canonical_double` gives:
    rewritten here from a positional text (``-301.25``, ``0.0042``, ``42``: 1e-4 <= |x| < 1e15, where float8's
    text has the shortest digits that read back, as Python's ``repr``), read as a float for the rest (``1e-05``,
    ``0``, ``NaN``, ``-Infinity``, and ``2.1642154231070032e+16``, where PostgreSQL's Ryu, excluding the bounds
    of the rounding interval, may give a digit more than the shortest)."""
    body = text[1:] if text[0] == "-" else text
    if "e" in body or not body[0].isdigit():
        return _computed(float(text), XSD_DOUBLE)
    whole, _, fraction = body.partition(".")
    if whole != "0":
        digits = (whole + fraction).rstrip("0")
        exponent = len(whole) - 1
    else:
        significant = fraction.lstrip("0")
        digits = significant.rstrip("0")
        exponent = len(significant) - len(fraction) - 1
    if not digits:  # zero
        return _computed(float(text), XSD_DOUBLE)
    sign = "-" if body is not text else ""
    return _literal(f"{sign}{digits[0]}.{digits[1:] or '0'}E{exponent}", _XSD_DOUBLE, float(text))


def _plain(lexical: str) -> Literal:
    """What ``Literal(lexical, normalize=False)`` builds (a plain literal: its value is its text)."""
    term: Any = str.__new__(Literal, lexical)
    term._language = None
    term._datatype = None
    term._value = str(lexical)
    term._ill_typed = None
    return term  # type: ignore[no-any-return]


def _literal(lexical: str, datatype: URIRef, value: Any) -> Literal:
    """What ``Literal(lexical, datatype=datatype, normalize=False)`` builds, for a datatype rdflib keeps as written
    (``value`` None) or an ``xsd:double`` read from a float column (``value`` the float, well-formed), without
    rdflib's parsing of the lexical form."""
    term: Any = str.__new__(Literal, lexical)
    term._language = None
    term._datatype = datatype
    term._value = value
    term._ill_typed = None if value is None else False
    return term  # type: ignore[no-any-return]


# a URIRef of an IRI read from the database (written by the mappings or checked when loaded): without rdflib's
# validation of the text, which costs more than the rest of decoding a row
_iri: Callable[[str], URIRef] = partial(str.__new__, URIRef)


def term(k: Any, lex: Any, dt_: Any, lang: Any, num: Any) -> Node | None:
    """The term of one row's fields (``None``: unbound), by the shortcuts where they apply."""
    if k is None:
        return None
    if k == IRI:
        return None if lex is None else _iri(lex)  # None: a lifted template with a NULL placeholder
    if k == LITERAL and not lang:
        if lex is not None and dt_ is not None:
            if dt_ == XSD_STRING:
                return _plain(lex)
            datatype, plain = datatype_kind(dt_)
            if plain:
                return _literal(lex, datatype, None)
            if dt_ == XSD_DOUBLE and type(num) is float:
                return _literal(lex, datatype, num)  # a float column: its value is the float
            if dt_ == XSD_INTEGER and num is not None:
                return _literal(lex, datatype, int(num))  # a well-formed integer (o_num is set)
            return Literal(lex, datatype=datatype, normalize=False)
        if lex is None and num is not None and dt_ in _COMPUTED:
            return _computed(num, dt_)
    return to_rdflib(k, lex, dt_, lang, num)


def _column(rows: Sequence[Any], index: int) -> list[Any] | None:
    """A field's values over ``rows`` (``None``: a constant, the same in every row)."""
    return list(map(itemgetter(index), rows)) if index >= 0 else None


def _lifted(rows: Sequence[Any], lifted: tuple[str, tuple[tuple[int, str], ...]]) -> list[str | None]:
    """The IRIs of a lifted template: its placeholders' values formatted into it (``None`` where one is NULL)."""
    template, parts = lifted
    columns = []
    for index, kind in parts:
        column = list(map(itemgetter(index), rows))
        if kind == "text":  # percent-encoded once per distinct value (a key column's values repeat)
            encoded = {x: x if x is None else x.translate(IRI_SAFE) for x in set(column)}
            if any(x != y for x, y in encoded.items()):
                column = list(map(encoded.__getitem__, column))
        columns.append(column)
    values = list(zip(*columns, strict=True))
    if any(None in column for column in columns):  # R2RML: no term where a placeholder is NULL
        return [None if None in v else template % v for v in values]
    return list(map(template.__mod__, values))


def _each(lex: list[Any], make: Callable[[str], Literal]) -> list[Any]:
    """``make`` of each lexical form (``None`` stays ``None``); once per distinct form where a column's forms
    repeat, as labels, kinds and counts do (judged by its first rows), so that repeated values share a term."""
    if len(set(lex[:_SAMPLE])) * 2 <= min(len(lex), _SAMPLE):
        built = {x: None if x is None else make(x) for x in set(lex)}
        return list(map(built.__getitem__, lex))
    return [None if x is None else make(x) for x in lex]


_SAMPLE = 64


def _terms(rows: Sequence[Any], fields: Fields, lifted: Lifted = None) -> tuple[list[Node | None], bool] | None:
    """One variable's terms over ``rows`` (``None`` where unbound), and whether it is unbound in some row;
    ``None``: unbound in every row."""
    (ki, kc), (vi, _), (di, dc), (li, lc), (ni, _) = fields
    if ki < 0 and kc is None:
        return None
    lex = _lifted(rows, lifted) if lifted is not None else _column(rows, vi)
    kinds = _column(rows, ki)
    if lex is not None and None not in lex:
        if kc == IRI:
            return list(map(_iri, lex)), False
        if kinds is not None and not set(kinds) - {IRI}:
            return list(map(_iri, lex)), False
    if di < 0 and li < 0 and not lc and lex is not None and dc is not None and kc in (None, LITERAL):
        # a literal of one datatype, no language: how to build it is decided once for the column
        if kinds is None or not set(kinds) - {None, LITERAL}:
            holes = None in lex or (kinds is not None and None in kinds)
            if holes and kinds is not None:
                lex = [None if k is None else x for k, x in zip(kinds, lex, strict=True)]
            if dc == XSD_STRING:
                return _each(lex, _plain), holes
            if ni == DOUBLE_TEXT and dc == XSD_DOUBLE:
                return _each(lex, _double), holes
            datatype, plain = datatype_kind(dc)
            if plain:
                return _each(lex, lambda x: _literal(x, datatype, None)), holes
            if ni == AS_TEXT and dc in (XSD_DOUBLE, XSD_INTEGER):  # the database's text of the number
                number = float if dc == XSD_DOUBLE else int
                return _each(lex, lambda x: _literal(x, datatype, number(x))), holes
            nums = _column(rows, ni)
            if nums is not None and dc in (XSD_DOUBLE, XSD_INTEGER):
                # a float column's value is the float; a well-formed integer's (o_num set) is the int; anything
                # else (a computed number, a quad's odd lexical form) by term()
                ks = kinds if kinds is not None else [kc] * len(lex)
                double = dc == XSD_DOUBLE
                if double and kinds is None and all(x is None for x in lex) and all(type(n) is float for n in nums):
                    # computed doubles (an average): the canonical form of each finite value, the value itself
                    return [
                        _literal(canonical_double(n), datatype, n) if n - n == 0 else _computed(n, dc) for n in nums
                    ], False
                return [
                    None
                    if k is None
                    else (
                        _literal(x, datatype, n if double else int(n))
                        if x is not None and (type(n) is float if double else n is not None)
                        else term(k, x, dc, None, n)
                    )
                    for k, x, n in zip(ks, lex, nums, strict=True)
                ], holes
    # the general case: every field per row
    values = [list(map(itemgetter(i), rows)) if i >= 0 else [c] * len(rows) for i, c in fields]
    if ni == AS_TEXT and lex is not None:  # a shaped number whose kind or datatype varies: its value from its text
        values[4] = [
            None if x is None else (float(x) if d == XSD_DOUBLE else int(x))
            for x, d in zip(lex, values[2], strict=True)
        ]
    if lex is not None:
        values[1] = lex
    if ni == DOUBLE_TEXT and lex is not None:  # a computed double's text: its value, and no lexical form yet
        values[4] = [None if x is None else float(x) for x in lex]
        values[1] = [None] * len(rows)
    terms = [term(*row) for row in zip(*values, strict=True)]
    return terms, any(t is None for t in terms)


def decode_rows(rows: Sequence[Any], plan: Plan) -> list[dict[str, Node]]:
    """The solutions of result rows, read by ``plan``: a dict per row of the variables bound in it."""
    names: list[str] = []
    columns: list[list[Node | None]] = []
    sparse: list[tuple[str, list[Node | None]]] = []  # the variables unbound in some rows
    for name, fields, lifted in plan:
        decoded = _terms(rows, fields, lifted)
        if decoded is not None:
            names.append(name)
            columns.append(decoded[0])
            if decoded[1]:
                sparse.append((name, decoded[0]))
    if not names:
        return [{} for _ in rows]
    # a dict per row from the first variable's terms, then the others added a column at a time (much faster than
    # dict(zip(names, row)) per row)
    first = names[0]
    solutions: list[dict[str, Any]] = [{first: t} for t in columns[0]]
    for name, terms in zip(names[1:], columns[1:], strict=True):
        for solution, t in zip(solutions, terms, strict=True):
            solution[name] = t
    for name, terms in sparse:
        for solution, t in zip(solutions, terms, strict=True):
            if t is None:
                del solution[name]
    return solutions


__all__ = ["AS_TEXT", "DOUBLE_TEXT", "IRI_SAFE", "Plan", "datatype_kind", "decode_rows", "term"]
