"""R2RML mappings (W3C R2RML, in Turtle) read with rdflib into frozen dataclasses.

A :class:`MappingSet` holds :class:`TriplesMap` objects: a logical table (a table name or an SQL query), a subject
:class:`TermMap` with its classes, and :class:`PredicateObjectMap` objects whose objects are term maps or
:class:`RefObjectMap` joins to another triples map. Graph maps (``rr:graph``, ``rr:graphMap``) are kept on the
subject map and on each predicate-object map.

They are read by :mod:`semantic.mapping.r2rml_read`, which raises :class:`MappingError` for everything R2RML says is
an error; whether tables and columns exist is checked against the database by
:func:`semantic.mapping.validate.validate_mappings`.

Column names are used as written, without case folding; a delimited name (``"Name"``) loses its quotes.
"""

from __future__ import annotations

import enum
import functools
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import unquote

from rdflib import RDF, Namespace

RR = Namespace("http://www.w3.org/ns/r2rml#")
RDF_TYPE = str(RDF.type)


# ucschar of RFC 3987: with ALPHA, DIGIT and -._~ the characters R2RML leaves unescaped in IRI templates
_UCSCHAR = (
    (0xA0, 0xD7FF),
    (0xF900, 0xFDCF),
    (0xFDF0, 0xFFEF),
    *((plane + 0x0000, plane + 0xFFFD) for plane in range(0x10000, 0xE0000, 0x10000)),
    (0xE1000, 0xEFFFD),
)
_UNRESERVED_ASCII = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_UCS_CLASS = "".join(f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi in _UCSCHAR)
# one IRI-safe column value: unreserved characters and percent-encoded octets (upper-case hex, as iri_safe writes)
_IRI_SAFE_VALUE = f"(?:[A-Za-z0-9\\-._~{_UCS_CLASS}]|%[0-9A-F]{{2}})*"


class TermKind(enum.Enum):
    """How a term map produces its terms."""

    CONSTANT = "constant"
    COLUMN = "column"
    TEMPLATE = "template"


class TermType(enum.Enum):
    """The kind of RDF term a term map produces (``rr:termType``)."""

    IRI = str(RR.IRI)
    BLANK_NODE = str(RR.BlankNode)
    LITERAL = str(RR.Literal)


@dataclass(frozen=True, slots=True)
class Column:
    """A column reference inside a template (``{name}``)."""

    name: str


TemplatePart = str | Column
"""A piece of a parsed template: literal text, or a column whose value is inserted."""


def unquote_identifier(name: str) -> str:
    if len(name) >= 2 and name[0] == name[-1] == '"':
        return name[1:-1].replace('""', '"')
    return name


@functools.lru_cache(maxsize=1024)
def parse_template(template: str) -> tuple[TemplatePart, ...]:
    """Split an R2RML template into literal text and column references.

    ``\\{``, ``\\}`` and ``\\\\`` stand for the characters themselves, inside and outside column names.

    Raises:
        ValueError: Unbalanced or nested braces, an empty column name, or a backslash escaping anything else.
    """
    parts: list[TemplatePart] = []
    buf: list[str] = []
    in_column = False
    i = 0
    while i < len(template):
        c = template[i]
        if c == "\\":
            if i + 1 < len(template) and template[i + 1] in "{}\\":
                buf.append(template[i + 1])
                i += 2
                continue
            raise ValueError(f"backslash at position {i} must escape {{, }} or \\")
        if c == "{":
            if in_column:
                raise ValueError(f"unescaped {{ inside a column name at position {i}")
            if buf:
                parts.append("".join(buf))
                buf = []
            in_column = True
        elif c == "}":
            if not in_column:
                raise ValueError(f"unescaped }} at position {i}")
            if not buf:
                raise ValueError(f"empty column name at position {i}")
            parts.append(Column(unquote_identifier("".join(buf))))
            buf = []
            in_column = False
        else:
            buf.append(c)
        i += 1
    if in_column:
        raise ValueError("unclosed { (a column name without })")
    if buf:
        parts.append("".join(buf))
    return tuple(parts)


def _is_iri_safe_char(ch: str) -> bool:
    if ch in _UNRESERVED_ASCII:
        return True
    code = ord(ch)
    return any(lo <= code <= hi for lo, hi in _UCSCHAR)


def iri_safe(value: str) -> str:
    """R2RML's IRI-safe form of a column value in an IRI template.

    Every character other than the IRI unreserved ones (ASCII letters and digits, ``-._~``, and non-ASCII
    ``ucschar``) is percent-encoded as its UTF-8 octets with upper-case hex: ``"a b/c"`` gives ``a%20b%2Fc``,
    ``2020-01-01T00:00:00Z`` gives ``2020-01-01T00%3A00%3A00Z``.
    """
    return "".join(ch if _is_iri_safe_char(ch) else "".join(f"%{b:02X}" for b in ch.encode()) for ch in value)


@dataclass(frozen=True)
class TermMap:
    """A rule producing one RDF term per logical-table row (or none, when a referenced column is NULL).

    Attributes:
        kind: Constant, column or template.
        value: The constant (an IRI, or a literal's lexical form), the column name, or the template text.
        term_type: IRI, blank node or literal.
        datatype: The literal datatype IRI (``rr:datatype``, or the constant literal's); ``None`` otherwise.
        language: The language tag of a literal (``rr:language``); ``None`` otherwise.
        geometry_property: For a column term map the T-mappings derive (never written in R2RML): the GeoSPARQL
            geometry property (``geo:dimension`` ...) whose value is computed from the geometry column.
    """

    kind: TermKind
    value: str
    term_type: TermType = TermType.IRI
    datatype: str | None = None
    language: str | None = None
    geometry_property: str | None = None

    @classmethod
    def constant_iri(cls, iri: str) -> TermMap:
        """A constant IRI (what ``rr:class`` and constant predicates amount to)."""
        return cls(TermKind.CONSTANT, iri, TermType.IRI)

    @property
    def parts(self) -> tuple[TemplatePart, ...]:
        """The parsed template (empty for constants and columns)."""
        return parse_template(self.value) if self.kind is TermKind.TEMPLATE else ()

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns the term map reads, in order of first use."""
        if self.kind is TermKind.COLUMN:
            return (self.value,)
        names = (part.name for part in self.parts if isinstance(part, Column))
        return tuple(dict.fromkeys(names))

    @property
    def invertible(self) -> bool:
        """Whether :meth:`invert` can tell the column values from a term: an IRI template without two columns
        side by side (column values are IRI-safe, so any other character separates them)."""
        if self.kind is not TermKind.TEMPLATE or self.term_type is not TermType.IRI:
            return False
        parts = self.parts
        return not any(isinstance(a, Column) and isinstance(b, Column) for a, b in itertools.pairwise(parts))

    def invert(self, iri: str) -> dict[str, str] | None:
        """The column values (as text, percent-decoded) from which this IRI template produces ``iri``.

        Returns ``None`` when no row can produce ``iri``; the rewriter turns a constant IRI in a query into
        equality conditions on the columns this way (so indexes are used), and drops the mapping on ``None``.

        Raises:
            ValueError: The term map is not :attr:`invertible`.
        """
        if not self.invertible:
            raise ValueError(f"term map {self.value!r} is not an invertible IRI template")
        match = _template_regex(self.value).fullmatch(iri)
        if match is None:
            return None
        values: dict[str, str] = {}
        for name, raw in zip(self.placeholders, match.groups(), strict=True):
            try:
                value = unquote(raw, errors="strict") if "%" in raw else raw
            except UnicodeDecodeError:
                return None
            if iri_safe(value) != raw or values.setdefault(name, value) != value:
                return None  # not how iri_safe writes it, or the same column with two values
        return values

    @property
    def placeholders(self) -> tuple[str, ...]:
        """The column of each template placeholder, in order, repeats included."""
        return tuple(part.name for part in self.parts if isinstance(part, Column))


@functools.lru_cache(maxsize=256)
def _template_regex(template: str) -> re.Pattern[str]:
    pattern = "".join(
        f"({_IRI_SAFE_VALUE})" if isinstance(part, Column) else re.escape(part) for part in parse_template(template)
    )
    return re.compile(pattern)


@dataclass(frozen=True)
class RefObjectMap:
    """An object that is the subject of another triples map's rows, joined on ``(child, parent)`` columns."""

    parent_triples_map: str
    join_conditions: tuple[tuple[str, str], ...] = ()

    def swapped(self, child_triples_map: str) -> RefObjectMap:
        """The same join seen from the parent: it refers back to ``child_triples_map``."""
        return RefObjectMap(child_triples_map, tuple((parent, child) for child, parent in self.join_conditions))


ObjectMap = TermMap | RefObjectMap


@dataclass(frozen=True)
class PredicateObjectMap:
    """Predicates and objects paired for every row: each predicate with each object, in each graph."""

    predicates: tuple[TermMap, ...]
    objects: tuple[ObjectMap, ...]
    graphs: tuple[TermMap, ...] = ()


@dataclass(frozen=True)
class LogicalTable:
    """A table (optionally ``schema.table``) or an SQL query (``rr:sqlQuery``)."""

    table_name: str | None = None
    sql_query: str | None = None

    @property
    def is_query(self) -> bool:
        """Whether this is an SQL query rather than a table."""
        return self.sql_query is not None

    @property
    def key(self) -> str:
        """The table name as written, or the query text: how validation results are keyed."""
        return self.sql_query if self.sql_query is not None else str(self.table_name)

    @property
    def schema(self) -> str | None:
        """The schema of a qualified table name (``None``: the default schema, or a query)."""
        return None if self.table_name is None else _split_qualified(self.table_name)[0]

    @property
    def table(self) -> str | None:
        """The unqualified, unquoted table name (``None`` for a query)."""
        return None if self.table_name is None else _split_qualified(self.table_name)[1]


def _split_qualified(name: str) -> tuple[str | None, str]:
    pieces: list[str] = []
    buf: list[str] = []
    quoted = False
    for ch in name:
        if ch == '"':
            quoted = not quoted
        if ch == "." and not quoted:
            pieces.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    pieces.append("".join(buf))
    names = [unquote_identifier(p) for p in pieces]
    # catalog.schema.table: the catalog is the database we are connected to
    return (names[-2] if len(names) > 1 else None), names[-1]


@dataclass(frozen=True)
class TriplesMap:
    """One R2RML triples map: rows of a logical table to triples about one subject per row.

    Attributes:
        name: The triples map's IRI (``_:label`` for a blank node).
        logical_table: Where the rows come from.
        subject: The subject map.
        classes: ``rr:class`` IRIs: every subject is an instance of each.
        predicate_object_maps: The predicate-object maps.
        graphs: Graph maps of the subject map (empty: the default graph).
    """

    name: str
    logical_table: LogicalTable
    subject: TermMap
    classes: tuple[str, ...] = ()
    predicate_object_maps: tuple[PredicateObjectMap, ...] = ()
    graphs: tuple[TermMap, ...] = ()


@dataclass(frozen=True)
class MappingSet:
    """Triples maps by name, in the order they were read."""

    triples_maps: tuple[TriplesMap, ...]

    @functools.cached_property
    def _by_name(self) -> dict[str, TriplesMap]:
        return {tm.name: tm for tm in self.triples_maps}

    def __getitem__(self, name: str) -> TriplesMap:
        return self._by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[TriplesMap]:
        return iter(self.triples_maps)

    def __len__(self) -> int:
        return len(self.triples_maps)

    @property
    def tables(self) -> frozenset[str]:
        """The unqualified names of the tables mapped directly (``rr:tableName``)."""
        return frozenset(tm.logical_table.table for tm in self.triples_maps if tm.logical_table.table is not None)
