"""RDF terms as SQL expressions (the *term columns* of docs/sparql.md) and back to rdflib terms."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from rdflib import XSD, BNode, Literal, URIRef
from rdflib.term import Node

# the vocabulary, also importable from here (semantic/sparql/geo.py and mapped.py read names here)
from semantic.vocab import (  # noqa: F401
    BLANK,
    GEO_GEOJSON_LITERAL,
    GEO_GML_LITERAL,
    GEO_WKT_LITERAL,
    IRI,
    LITERAL,
    RDF_LANGSTRING,
    XSD_BOOLEAN,
    XSD_DATE,
    XSD_DATETIME,
    XSD_DECIMAL,
    XSD_DOUBLE,
    XSD_FLOAT,
    XSD_INTEGER,
    XSD_STRING,
)

INTEGER_TYPES = {
    str(XSD[t])
    for t in (
        "integer nonPositiveInteger negativeInteger long int short byte nonNegativeInteger unsignedLong "
        "unsignedInt unsignedShort unsignedByte positiveInteger"
    ).split()
}
NUMERIC_TYPES = INTEGER_TYPES | {XSD_DECIMAL, XSD_FLOAT, XSD_DOUBLE}
FIELDS = ("k", "v", "dt", "lang", "num", "ts", "geom")


@dataclass(frozen=True)
class Lift:
    """An IRI template whose IRIs the decoder builds from the template's columns (``TermCols.lift``), so that the
    database returns key columns rather than concatenating (and percent-encoding) an IRI per row.

    Attributes:
        template: A printf-style template: ``%d`` for an integer placeholder, ``%s`` for others (``%`` of the
            template's text doubled).
        parts: Per placeholder, the SQL expression to fetch and how it becomes text: ``"int"`` (an integer
            column, written as ``int::text`` writes it), ``"text"`` (a text column, percent-encoded as
            ``esdl_iri_safe`` does) or ``"as_is"`` (an expression that is the placeholder's text already).
    """

    template: str
    parts: tuple[tuple[Any, str], ...]


@dataclass(frozen=True)
class TermCols:
    """An RDF term as SQL expressions; ``k`` NULL means unbound (or an error, in expressions)."""

    k: Any
    v: Any
    dt: Any = None
    lang: Any = None
    num: Any = None
    ts: Any = None
    geom: Any = None
    # what the rewriter knows of every row's term, or None: ("number", datatype) for a typed column's value —
    # a literal of that datatype whose lexical form is the value's text, unbound exactly when num is NULL
    shape: Any = field(default=None, compare=False)
    # an IRI template over columns of the same SELECT as the fields (``v`` is its concatenation), for the
    # outermost SELECT to fetch the columns instead of ``v``; None: read ``v``
    lift: Lift | None = field(default=None, compare=False, kw_only=True)

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.name in ("shape", "lift"):
                continue
            value = getattr(self, f.name)
            if value is None or isinstance(value, sa.sql.ClauseElement):
                continue
            object.__setattr__(self, f.name, sa.literal(value))

    def get(self, name: str) -> Any:
        """The SQL expression of field ``name`` (``NULL`` when the term has none)."""
        value = getattr(self, name)
        if value is not None:
            return value
        if name == "geom":
            return sa.null().cast(_geometry_type())
        return sa.null().cast(SQL_TYPES[name])

    def labelled(self, var: str) -> list[Any]:
        """The fields as labelled columns ``<var>__<field>`` for a SELECT list."""
        return [self.get(f).label(label(var, f)) for f in FIELDS]

    def with_(self, **changes: Any) -> TermCols:
        """A copy with some fields replaced."""
        return replace(self, **changes)


MAX_LABEL_BYTES = 63  # PostgreSQL cuts longer identifiers (NAMEDATALEN - 1), and cut labels can collide


@functools.lru_cache(maxsize=4096)
def label(var: str, field: str) -> str:
    """The column label of ``var``'s term field ``field``: ``<var>__<field>``, or, where that would be longer than
    PostgreSQL keeps, ``v<hash of var>__<field>`` (two long names that share a prefix stay apart)."""
    plain = f"{var}__{field}"
    if len(plain.encode("utf-8")) <= MAX_LABEL_BYTES:
        return plain
    return f"v{hashlib.sha1(var.encode('utf-8'), usedforsecurity=False).hexdigest()[:20]}__{field}"


@functools.cache
def _geometry_type() -> Any:
    from geoalchemy2 import Geometry

    return Geometry(srid=4326)


# the SQL type of each term field but the geometry
SQL_TYPES: dict[str, Any] = {
    "k": sa.SmallInteger(),
    "v": sa.Text(),
    "dt": sa.Text(),
    "lang": sa.Text(),
    "num": sa.Numeric(),
    "ts": sa.DateTime(timezone=True),
}


def columns_of(source: Any, var: str) -> TermCols:
    """The term columns of ``var`` in a subquery produced by the renderer."""
    return TermCols(*(source.c[label(var, f)] for f in FIELDS))


def _literal_fields(term: Literal) -> tuple[str, str, str | None, Decimal | None, dt.datetime | None]:
    """A constant literal's lexical form, datatype, language, numeric value and timestamp, read as the loader reads
    a stored literal (:func:`semantic.rdf.terms.literal_values`): a constant and a stored literal of the same
    lexical form and datatype have the same values, ill-typed ones (``"300"^^xsd:byte``) none."""
    from semantic.rdf.terms import literal_values

    row = literal_values(str(term), None if term.datatype is None else str(term.datatype), term.language)
    return row.lex, str(row.dt), row.lang, row.num, row.ts


def constant(term: Node) -> TermCols:
    """The term columns of a constant rdflib term (values become bound parameters)."""
    if isinstance(term, URIRef):
        return TermCols(sa.literal(IRI, sa.SmallInteger()), sa.literal(str(term), sa.Text()))
    if isinstance(term, BNode):
        return TermCols(sa.literal(BLANK, sa.SmallInteger()), sa.literal(str(term), sa.Text()))
    if isinstance(term, Literal):
        lexical, datatype, lang, num, ts = _literal_fields(term)
        return TermCols(
            sa.literal(LITERAL, sa.SmallInteger()),
            sa.literal(lexical, sa.Text()),
            sa.literal(datatype, sa.Text()),
            None if lang is None else sa.literal(lang, sa.Text()),
            None if num is None else sa.literal(num, sa.Numeric()),
            None if ts is None else sa.literal(ts, sa.DateTime(timezone=True)),
            _geometry(lexical, datatype),
        )
    raise TypeError(f"not an RDF term: {term!r}")


def constant_values(term: Node) -> tuple[Any, ...] | None:
    """The values of the fields of :func:`constant`'s columns but ``geom`` (``FIELDS[:-1]``), as Python values
    (what :func:`static` reads from them), without building SQL; ``None`` for a geometry literal (whose
    geometry is no plain value)."""
    if isinstance(term, URIRef):
        return (IRI, str(term), None, None, None, None)
    if isinstance(term, BNode):
        return (BLANK, str(term), None, None, None, None)
    if isinstance(term, Literal):
        lexical, datatype, lang, num, ts = _literal_fields(term)
        if datatype in _GEOMETRY_TYPES and _geometry(lexical, datatype) is not None:
            return None
        return (LITERAL, lexical, datatype, lang, num, ts)
    raise TypeError(f"not an RDF term: {term!r}")


_GEOMETRY_TYPES = (GEO_WKT_LITERAL, GEO_GEOJSON_LITERAL, GEO_GML_LITERAL)


def _geometry(lexical: str, datatype: str) -> Any:
    """The geometry of a constant geometry literal (VALUES, BIND), read as the loader reads stored ones (``None``:
    not a geometry literal, or an ill-typed one, whose geometry functions are errors)."""
    if datatype not in _GEOMETRY_TYPES:
        return None
    from semantic.geosparql.literals import geometry_param
    from semantic.rdf.terms import geometry_value

    geometry = geometry_value(lexical, datatype)
    return None if geometry is None else geometry_param(geometry)


def canonical_number(value: Decimal, datatype: str) -> str:
    """The canonical lexical form of a computed numeric value."""
    if datatype in INTEGER_TYPES:
        return str(int(value))
    if datatype == XSD_DECIMAL:
        text = format(value.normalize(), "f")
        return text if "." in text else text + ".0"
    if value.is_nan():
        return "NaN"
    if value.is_infinite():
        return "INF" if value > 0 else "-INF"
    return canonical_double(float(value))


def canonical_double(x: float) -> str:
    """XSD's canonical form of a double: the shortest digits that read back as the same double (Python's
    ``repr``), as one digit, a point, the other digits (at least one) and ``E`` with the exponent."""
    if x != x:
        return "NaN"
    if x in (float("inf"), float("-inf")):
        return "INF" if x > 0 else "-INF"
    text = repr(x)
    sign = "-" if text[0] == "-" else ""
    mantissa, _, exponent = text.lstrip("-").partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    if not digits:
        return f"{sign}0.0E0"
    leading = len(whole + fraction) - len(digits)
    adjusted = len(whole) - 1 - leading + (int(exponent) if exponent else 0)
    digits = digits.rstrip("0")
    return f"{sign}{digits[0]}.{digits[1:] or '0'}E{adjusted}"


def to_rdflib(k: int | None, v: str | None, dt_: str | None, lang: str | None, num: Any = None) -> Node | None:
    """The rdflib term of a row's term columns (``None`` when unbound)."""
    if k is None:
        return None
    if k == IRI:
        return URIRef(v or "")
    if k == BLANK:
        return BNode(v)
    if v is None and num is not None and dt_ is not None:
        v = canonical_number(Decimal(num), dt_)
    # normalize=False: the lexical form is the data's (rdflib would rewrite "01" as "1")
    if lang:
        return Literal(v, lang=lang, normalize=False)
    if dt_ is None or dt_ == XSD_STRING:
        return Literal(v, normalize=False)
    return Literal(v, datatype=URIRef(dt_), normalize=False)


UNKNOWN = object()


def static(term: TermCols, name: str) -> Any:
    """The Python value of a field that is a constant (``None`` for an absent field), else :data:`UNKNOWN`."""
    value = getattr(term, name)
    if value is None:
        return None
    if isinstance(value, sa.sql.elements.BindParameter) and value.callable is None:
        return value.value
    if isinstance(value, sa.sql.elements.Cast) and isinstance(value.clause, sa.sql.elements.Null):
        return None  # a typed NULL (a computed number's lexical form)
    return UNKNOWN
