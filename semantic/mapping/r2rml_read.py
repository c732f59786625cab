"""Reading R2RML mappings (Turtle, or an rdflib graph) into the model of :mod:`semantic.mapping.r2rml`.

Everything R2RML says is an error is one here, raised as :class:`~semantic.errors.MappingError` naming the triples
map: no logical table, a term map with two (or none) of ``rr:constant``/``rr:column``/``rr:template``, a malformed
template, a literal subject, an unknown ``rr:`` property (a typo would otherwise be silently ignored), an unknown
parent triples map.
"""

from __future__ import annotations

import re
from pathlib import Path

from rdflib import RDF, BNode, Graph, Literal, URIRef
from rdflib.term import Node

from semantic.errors import MappingError
from semantic.mapping.r2rml import (
    RR,
    LogicalTable,
    MappingSet,
    ObjectMap,
    PredicateObjectMap,
    RefObjectMap,
    TermKind,
    TermMap,
    TermType,
    TriplesMap,
    parse_template,
    unquote_identifier,
)
from semantic.mapping.turtle import shipped, turtle_files, turtle_graph

_LANGUAGE = re.compile(r"[a-zA-Z]{1,8}(-[a-zA-Z0-9]{1,8})*")


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
            joins.append((unquote_identifier(child), unquote_identifier(parent_col)))
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
            text = unquote_identifier(text)
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
    return _Parser(turtle_graph(source, "mappings", base=base)).parse()


def default_mapping_paths() -> tuple[Path, ...]:
    """The shipped mapping files (``semantic/mappings/*.ttl``)."""
    return shipped("mappings")


def load_mappings(*paths: str | Path) -> MappingSet:
    """Read mapping files (by default the shipped ones) into one :class:`MappingSet`.

    Raises:
        MappingError: A file is missing, is not Turtle, or is not valid R2RML.
    """
    return parse_mappings(turtle_files(paths or default_mapping_paths(), "mappings"))
