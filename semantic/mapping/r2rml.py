"""R2RML mappings (W3C R2RML, in Turtle) read with rdflib into frozen dataclasses.

A :class:`MappingSet` holds :class:`TriplesMap` objects: a logical table (a table name or an SQL query), a subject
:class:`TermMap` with its classes, and :class:`PredicateObjectMap` objects whose objects are term maps or
:class:`RefObjectMap` joins to another triples map. Graph maps (``rr:graph``, ``rr:graphMap``) are kept on the
subject map and on each predicate-object map.

Everything R2RML says is an error is one here, raised as :class:`MappingError` naming the triples map: no
logical table, a term map with two (or none) of ``rr:constant``/``rr:column``/``rr:template``, a malformed
template, a literal subject, an unknown ``rr:`` property (a typo would otherwise be silently ignored), an unknown
parent triples map. Whether tables and columns exist is checked against the database by
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
from importlib import resources
from pathlib import Path
from urllib.parse import unquote

from rdflib import RDF, BNode, Graph, Literal, Namespace, URIRef
from rdflib.term import Node

from semantic.errors import MappingError

RR = Namespace("http://www.w3.org/ns/r2rml#")
RDF_TYPE = str(RDF.type)

_LANGUAGE = re.compile(r"[a-zA-Z]{1,8}(-[a-zA-Z0-9]{1,8})*")

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


def _unquote_identifier(name: str) -> str:
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
            parts.append(Column(_unquote_identifier("".join(buf))))
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
    names = [_unquote_identifier(p) for p in pieces]
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


# ---------------------------------------------------------------------------------------------------------------
# parsing

_TERM_MAP_KEYS = (RR.constant, RR.column, RR.template)
_TERM_MAP_PROPS = frozenset({*_TERM_MAP_KEYS, RR.termType, RR.inverseExpression})
_ALLOWED = {
    "triples map": frozenset({RR.logicalTable, RR.subjectMap, RR.subject, RR.predicateObjectMap}),
    "logical table": frozenset({RR.tableName, RR.sqlQuery, RR.sqlVersion}),
    "subject map": _TERM_MAP_PROPS | {RR["class"], RR.graphMap, RR.graph},
    "predicate map": _TERM_MAP_PROPS,
    "object map": _TERM_MAP_PROPS | {RR.datatype, RR.language, RR.parentTriplesMap, RR.joinCondition},
    "graph map": _TERM_MAP_PROPS,
    "predicate-object map": frozenset({RR.predicate, RR.predicateMap, RR.object, RR.objectMap, RR.graph, RR.graphMap}),
    "join condition": frozenset({RR.child, RR.parent}),
}


def _short(node: Node) -> str:
    text = str(node)
    return "rr:" + text[len(str(RR)) :] if text.startswith(str(RR)) else f"<{text}>"


class _Parser:
    def __init__(self, graph: Graph) -> None:
        self.graph = graph

    @staticmethod
    def name(node: Node) -> str:
        return f"_:{node}" if isinstance(node, BNode) else str(node)

    def parse(self) -> MappingSet:
        g = self.graph
        nodes: dict[Node, None] = {}
        for pred in (RR.logicalTable, RR.subjectMap, RR.subject, RR.predicateObjectMap):
            for node in g.subjects(pred, None):
                nodes.setdefault(node)
        for node in g.subjects(RDF.type, RR.TriplesMap):
            nodes.setdefault(node)
        ordered = sorted(nodes, key=self.name)
        known = {self.name(node) for node in ordered}
        maps = tuple(self.triples_map(node) for node in ordered)
        by_name = {tm.name: tm for tm in maps}
        for tm in maps:
            for pom in tm.predicate_object_maps:
                for obj in pom.objects:
                    if isinstance(obj, RefObjectMap):
                        self.check_ref(tm, obj, known, by_name)
        return MappingSet(maps)

    def check_ref(self, tm: TriplesMap, ref: RefObjectMap, known: set[str], by_name: dict[str, TriplesMap]) -> None:
        if ref.parent_triples_map not in known:
            raise MappingError(f"triples map <{tm.name}>: unknown parent triples map <{ref.parent_triples_map}>")
        parent = by_name[ref.parent_triples_map]
        if not ref.join_conditions and parent.logical_table != tm.logical_table:
            raise MappingError(
                f"triples map <{tm.name}>: the referencing object map to <{parent.name}> needs rr:joinCondition "
                "(the two logical tables differ)"
            )

    def values(self, node: Node, pred: URIRef) -> list[Node]:
        return sorted(self.graph.objects(node, pred), key=str)

    def one(self, node: Node, pred: URIRef, ctx: str, what: str) -> Node | None:
        values = self.values(node, pred)
        if len(values) > 1:
            raise MappingError(f"{ctx}: the {what} has {len(values)} values of {_short(pred)}; R2RML allows one")
        return values[0] if values else None

    def check_properties(self, node: Node, ctx: str, what: str) -> None:
        allowed = _ALLOWED[what]
        for pred in set(self.graph.predicates(node, None)):
            if str(pred).startswith(str(RR)) and pred not in allowed:
                raise MappingError(f"{ctx}: unknown or misplaced R2RML property {_short(pred)} on the {what}")

    def string(self, node: Node, pred: URIRef, ctx: str, what: str) -> str | None:
        value = self.one(node, pred, ctx, what)
        if value is None:
            return None
        if not isinstance(value, Literal):
            raise MappingError(f"{ctx}: {_short(pred)} of the {what} must be a string, not {_short(value)}")
        return str(value)

    def triples_map(self, node: Node) -> TriplesMap:
        name = self.name(node)
        ctx = f"triples map <{name}>"
        self.check_properties(node, ctx, "triples map")
        table_node = self.one(node, RR.logicalTable, ctx, "triples map")
        if table_node is None:
            raise MappingError(f"{ctx}: missing rr:logicalTable")
        logical_table = self.logical_table(table_node, ctx)

        subject_node = self.one(node, RR.subjectMap, ctx, "triples map")
        subject_constant = self.one(node, RR.subject, ctx, "triples map")
        classes: tuple[str, ...] = ()
        graphs: tuple[TermMap, ...] = ()
        if subject_node is not None and subject_constant is not None:
            raise MappingError(f"{ctx}: has both rr:subjectMap and rr:subject")
        if subject_constant is not None:
            subject = self.constant(subject_constant, ctx, "subject map")
        elif subject_node is not None:
            self.check_properties(subject_node, ctx, "subject map")
            subject = self.term_map(subject_node, ctx, "subject map")
            class_nodes = self.values(subject_node, RR["class"])
            bad = [c for c in class_nodes if not isinstance(c, URIRef)]
            if bad:
                raise MappingError(f"{ctx}: rr:class must be an IRI, not {bad[0]!r}")
            classes = tuple(str(c) for c in class_nodes)
            graphs = self.graph_maps(subject_node, ctx)
        else:
            raise MappingError(f"{ctx}: missing rr:subjectMap")
        if subject.term_type is TermType.LITERAL:
            raise MappingError(f"{ctx}: the subject map produces literals; subjects are IRIs or blank nodes")

        # blank node labels differ from one parse to the next: order by content, so compiled SQL is stable
        poms = tuple(
            sorted((self.predicate_object_map(pom, ctx) for pom in self.values(node, RR.predicateObjectMap)), key=repr)
        )
        return TriplesMap(name, logical_table, subject, classes, poms, graphs)

    def logical_table(self, node: Node, ctx: str) -> LogicalTable:
        self.check_properties(node, ctx, "logical table")
        table = self.string(node, RR.tableName, ctx, "logical table")
        query = self.string(node, RR.sqlQuery, ctx, "logical table")
        if (table is None) == (query is None):
            raise MappingError(f"{ctx}: the logical table needs exactly one of rr:tableName and rr:sqlQuery")
        if query is not None:
            query = query.strip()
            if not query or query.endswith(";"):
                raise MappingError(f"{ctx}: rr:sqlQuery must be one SQL query without a final ;")
            return LogicalTable(sql_query=query)
        assert table is not None
        if not table.strip():
            raise MappingError(f"{ctx}: empty rr:tableName")
        return LogicalTable(table_name=table)

    def graph_maps(self, node: Node, ctx: str) -> tuple[TermMap, ...]:
        graphs = [self.constant(c, ctx, "graph map") for c in self.values(node, RR.graph)]
        for gm in self.values(node, RR.graphMap):
            self.check_properties(gm, ctx, "graph map")
            graphs.append(self.term_map(gm, ctx, "graph map"))
        return tuple(sorted(graphs, key=repr))

    def predicate_object_map(self, node: Node, ctx: str) -> PredicateObjectMap:
        self.check_properties(node, ctx, "predicate-object map")
        predicates = [self.constant(c, ctx, "predicate map") for c in self.values(node, RR.predicate)]
        for pm in self.values(node, RR.predicateMap):
            self.check_properties(pm, ctx, "predicate map")
            predicates.append(self.term_map(pm, ctx, "predicate map"))
        objects: list[ObjectMap] = [self.constant(c, ctx, "object map") for c in self.values(node, RR.object)]
        for om in self.values(node, RR.objectMap):
            self.check_properties(om, ctx, "object map")
            if (om, RR.parentTriplesMap, None) in self.graph:
                objects.append(self.ref_object_map(om, ctx))
            else:
                objects.append(self.term_map(om, ctx, "object map"))
        if not predicates:
            raise MappingError(f"{ctx}: a predicate-object map without rr:predicate or rr:predicateMap")
        if not objects:
            raise MappingError(f"{ctx}: a predicate-object map without rr:object or rr:objectMap")
        return PredicateObjectMap(
            tuple(sorted(predicates, key=repr)), tuple(sorted(objects, key=repr)), self.graph_maps(node, ctx)
        )

    def ref_object_map(self, node: Node, ctx: str) -> RefObjectMap:
        for pred in (*_TERM_MAP_PROPS, RR.datatype, RR.language):
            if (node, pred, None) in self.graph:
                raise MappingError(f"{ctx}: a referencing object map (rr:parentTriplesMap) cannot have {_short(pred)}")
        parent = self.one(node, RR.parentTriplesMap, ctx, "object map")
        assert parent is not None
        joins = []
        for jc in self.values(node, RR.joinCondition):
            self.check_properties(jc, ctx, "join condition")
            child = self.string(jc, RR.child, ctx, "join condition")
            parent_col = self.string(jc, RR.parent, ctx, "join condition")
            if child is None or parent_col is None:
                raise MappingError(f"{ctx}: a join condition needs both rr:child and rr:parent")
            joins.append((_unquote_identifier(child), _unquote_identifier(parent_col)))
        return RefObjectMap(self.name(parent), tuple(sorted(joins)))

    def constant(self, node: Node, ctx: str, what: str) -> TermMap:
        if isinstance(node, URIRef):
            term = TermMap(TermKind.CONSTANT, str(node), TermType.IRI)
        elif isinstance(node, Literal):
            datatype = None if node.datatype is None else str(node.datatype)
            term = TermMap(TermKind.CONSTANT, str(node), TermType.LITERAL, datatype, node.language)
        else:
            raise MappingError(f"{ctx}: the {what} has a blank node constant; R2RML constants are IRIs or literals")
        self.check_position(term, ctx, what)
        return term

    def term_map(self, node: Node, ctx: str, what: str) -> TermMap:
        given = [(pred, value) for pred in _TERM_MAP_KEYS for value in self.values(node, pred)]
        if len(given) != 1:
            found = " and ".join(_short(pred) for pred, _ in given) or "none"
            raise MappingError(
                f"{ctx}: the {what} has {found} of rr:constant, rr:column, rr:template; a term map has exactly one"
            )
        pred, value = given[0]
        datatype_node = self.one(node, RR.datatype, ctx, what)
        language = self.string(node, RR.language, ctx, what)
        term_type_node = self.one(node, RR.termType, ctx, what)
        if datatype_node is not None and not isinstance(datatype_node, URIRef):
            raise MappingError(f"{ctx}: rr:datatype of the {what} must be an IRI")
        datatype = None if datatype_node is None else str(datatype_node)
        if datatype is not None and language is not None:
            raise MappingError(f"{ctx}: the {what} has both rr:datatype and rr:language")
        if language is not None and not _LANGUAGE.fullmatch(language):
            raise MappingError(f"{ctx}: rr:language {language!r} of the {what} is not a language tag")
        term_type = None
        if term_type_node is not None:
            try:
                term_type = TermType(str(term_type_node))
            except ValueError:
                raise MappingError(f"{ctx}: unknown rr:termType {_short(term_type_node)} on the {what}") from None

        if pred == RR.constant:
            term = self.constant(value, ctx, what)
            if term_type is not None and term_type is not term.term_type:
                raise MappingError(f"{ctx}: rr:termType of the {what} does not match its constant")
            if datatype is not None or language is not None:
                raise MappingError(f"{ctx}: a constant {what} takes its datatype or language from the constant")
            return term
        if not isinstance(value, Literal):
            raise MappingError(f"{ctx}: {_short(pred)} of the {what} must be a string")
        text = str(value)
        if pred == RR.template:
            kind = TermKind.TEMPLATE
            try:
                parse_template(text)
            except ValueError as err:
                raise MappingError(f"{ctx}: bad template {text!r} in the {what}: {err}") from None
        else:
            kind = TermKind.COLUMN
            text = _unquote_identifier(text)
            if not text:
                raise MappingError(f"{ctx}: empty rr:column in the {what}")
        if term_type is None:
            literal = what == "object map" and (kind is TermKind.COLUMN or datatype or language)
            term_type = TermType.LITERAL if literal else TermType.IRI
        if term_type is not TermType.LITERAL and (datatype is not None or language is not None):
            raise MappingError(f"{ctx}: rr:datatype and rr:language apply only to literals, in the {what}")
        term = TermMap(kind, text, term_type, datatype, language)
        self.check_position(term, ctx, what)
        return term

    @staticmethod
    def check_position(term: TermMap, ctx: str, what: str) -> None:
        allowed = {
            "subject map": (TermType.IRI, TermType.BLANK_NODE),
            "predicate map": (TermType.IRI,),
            "graph map": (TermType.IRI,),
            "object map": tuple(TermType),
        }[what]
        if term.term_type not in allowed:
            raise MappingError(f"{ctx}: the {what} cannot produce {term.term_type.name.lower().replace('_', ' ')}s")


def parse_mappings(source: str | Graph, *, base: str | None = None) -> MappingSet:
    """Read R2RML mappings from Turtle text or an rdflib graph.

    Raises:
        MappingError: Not Turtle, or not valid R2RML (the message names the triples map).
    """
    if isinstance(source, Graph):
        graph = source
    else:
        graph = Graph()
        try:
            graph.parse(data=source, format="turtle", publicID=base)
        except Exception as err:  # rdflib raises several unrelated types for bad Turtle
            raise MappingError(f"mappings are not valid Turtle: {err}") from err
    return _Parser(graph).parse()


def default_mapping_paths() -> tuple[Path, ...]:
    """The shipped mapping files (``semantic/mappings/*.ttl``)."""
    folder = Path(str(resources.files("semantic") / "mappings"))
    return tuple(sorted(folder.glob("*.ttl")))


def load_mappings(*paths: str | Path) -> MappingSet:
    """Read mapping files (by default the shipped ones) into one :class:`MappingSet`.

    Raises:
        MappingError: A file is missing, is not Turtle, or is not valid R2RML.
    """
    graph = Graph()
    for path in paths or default_mapping_paths():
        try:
            graph.parse(str(path), format="turtle")
        except Exception as err:  # rdflib raises several unrelated types for bad Turtle
            raise MappingError(f"{path}: cannot read the mappings: {err}") from err
    return parse_mappings(graph)
