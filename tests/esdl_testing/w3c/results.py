"""Query results as the harness sees them, and parsers for every expected-result format in the suite.

A SELECT result is a :class:`ResultTable`, an ASK result a ``bool``, a CONSTRUCT/DESCRIBE result an
:class:`rdflib.Graph`. Literals are built with rdflib's lexical normalisation switched off, so that
``"01"^^xsd:integer`` stays ``"01"`` (rdflib would otherwise rewrite it to ``"1"`` and hide a difference).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import rdflib
from rdflib import RDF, XSD, BNode, Graph, Literal, Namespace, URIRef
from rdflib.term import Identifier, Node

RS = Namespace("http://www.w3.org/2001/sw/DataAccess/tests/result-set#")
SRX = "{http://www.w3.org/2005/sparql-results#}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

Row = dict[str, Identifier]
"""One solution: variable name (without ``?``) → term; an unbound variable is absent."""


def identifiers(solution: Mapping[str, Node]) -> Row:
    """An engine's solution as a :data:`Row`, checking that every bound value is an RDF term."""
    row: Row = {}
    for name, term in solution.items():
        if not isinstance(term, Identifier):
            raise TypeError(f"?{name} is not an RDF term: {term!r}")
        row[name] = term
    return row


@dataclass
class ResultTable:
    """A SELECT result: a sequence (or multiset) of solutions.

    Attributes:
        variables: The projected variable names, without ``?``, in the order the result gives them.
        rows: The solutions.
        ordered: The row order is meaningful. Results documents (XML, JSON, TSV, CSV) are sequences; an RDF
            ``rs:ResultSet`` is one only when its solutions carry ``rs:index``. An engine's answer is ordered.
        lexical_only: Terms are only known by their lexical form, as in CSV: IRIs and literals are plain
            literals holding the text, blank nodes stay blank nodes, unbound and ``""`` are the same.
    """

    variables: tuple[str, ...]
    rows: list[Row] = field(default_factory=list)
    ordered: bool = True
    lexical_only: bool = False


QueryOutcome = ResultTable | bool | Graph
"""What a query returns: SELECT → :class:`ResultTable`, ASK → ``bool``, CONSTRUCT/DESCRIBE → ``Graph``."""


class ResultFormatError(ValueError):
    """An expected-result file cannot be read."""


@contextlib.contextmanager
def literal_normalization(enabled: bool) -> Iterator[None]:
    """Switch rdflib's lexical normalisation of literals on or off for the duration of the block."""
    old = rdflib.NORMALIZE_LITERALS
    rdflib.NORMALIZE_LITERALS = enabled
    try:
        yield
    finally:
        rdflib.NORMALIZE_LITERALS = old


def literal(lexical: str, datatype: str | None = None, lang: str | None = None) -> Literal:
    """A literal that keeps its lexical form exactly."""
    if lang:
        return Literal(lexical, lang=lang, normalize=False)
    return Literal(lexical, datatype=URIRef(datatype) if datatype else None, normalize=False)


def parse_results(path: Path) -> QueryOutcome:
    """Read an expected result by its suffix: ``.srx``, ``.srj``, ``.tsv``, ``.csv``, or an RDF file.

    RDF files (``.ttl``, ``.rdf``, ``.nt``, ``.n3``) holding an ``rs:ResultSet`` are a result table or a
    boolean; any other RDF file is a CONSTRUCT graph. Results are cached per path; callers must not
    modify them.

    Raises:
        ResultFormatError: Unknown suffix or a malformed file.
    """
    return _parse_results_cached(Path(path).resolve())


@cache
def _parse_results_cached(path: Path) -> QueryOutcome:
    suffix = path.suffix.lower()
    try:
        if suffix == ".srx":
            return parse_srx(path.read_bytes())
        if suffix == ".srj":
            return parse_srj(path.read_text(encoding="utf-8"))
        if suffix == ".tsv":
            return parse_tsv(path.read_text(encoding="utf-8"))
        if suffix == ".csv":
            return parse_csv(path.read_text(encoding="utf-8"))
        if suffix in RDF_FORMATS:
            return parse_rdf_results(read_graph(path))
    except ResultFormatError:
        raise
    except Exception as exc:
        raise ResultFormatError(f"{path}: {type(exc).__name__}: {exc}") from exc
    raise ResultFormatError(f"{path}: unknown result format {suffix!r}")


RDF_FORMATS = {".ttl": "turtle", ".rdf": "xml", ".nt": "nt", ".n3": "n3"}


def read_graph(path: Path) -> Graph:
    """Parse an RDF file (format by suffix) with its ``file:`` URI as base, keeping lexical forms."""
    graph = Graph()
    with literal_normalization(False):
        graph.parse(path, format=RDF_FORMATS[path.suffix.lower()], publicID=path.as_uri())
    return graph


def parse_srx(data: bytes | str) -> ResultTable | bool:
    """SPARQL Query Results XML Format."""
    root = ET.fromstring(data)
    boolean = root.find(f"{SRX}boolean")
    if boolean is not None:
        return _boolean((boolean.text or "").strip())
    head = root.find(f"{SRX}head")
    variables = tuple(v.attrib["name"] for v in (head if head is not None else []) if v.tag == f"{SRX}variable")
    rows: list[Row] = []
    results = root.find(f"{SRX}results")
    for result in results if results is not None else []:
        row: Row = {}
        for binding in result.findall(f"{SRX}binding"):
            terms = [t for t in binding if t.tag != f"{SRX}unbound"]
            if terms:
                row[binding.attrib["name"]] = _srx_term(terms[0])
        rows.append(row)
    return ResultTable(variables, rows)


def _srx_term(elem: ET.Element) -> Identifier:
    text = elem.text or ""
    tag = elem.tag.removeprefix(SRX)
    if tag == "uri":
        return URIRef(text.strip())
    if tag == "bnode":
        return BNode(text.strip())
    if tag == "literal":
        return literal(text, elem.attrib.get("datatype"), elem.attrib.get(XML_LANG))
    raise ResultFormatError(f"unknown term element <{tag}>")


def parse_srj(text: str) -> ResultTable | bool:
    """SPARQL 1.1 Query Results JSON Format."""
    doc = json.loads(text)
    if "boolean" in doc:
        value = doc["boolean"]
        return value if isinstance(value, bool) else _boolean(str(value))
    variables = tuple(doc.get("head", {}).get("vars", []))
    rows = [{name: _srj_term(term) for name, term in binding.items()} for binding in doc.get("results", {})["bindings"]]
    return ResultTable(variables, rows)


def _srj_term(term: dict[str, str]) -> Identifier:
    kind = term["type"]
    if kind == "uri":
        return URIRef(term["value"])
    if kind == "bnode":
        return BNode(term["value"])
    if kind in ("literal", "typed-literal"):
        return literal(term["value"], term.get("datatype"), term.get("xml:lang"))
    raise ResultFormatError(f"unknown JSON term type {kind!r}")


def parse_tsv(text: str) -> ResultTable:
    """SPARQL 1.1 Query Results TSV Format: terms in Turtle syntax, empty cells unbound."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines:
        raise ResultFormatError("empty TSV document")
    variables = tuple(v.strip().lstrip("?$") for v in lines[0].rstrip("\r").split("\t")) if lines[0] else ()
    rows: list[Row] = []
    for line in lines[1:]:
        cells = line.rstrip("\r").split("\t")
        if len(cells) != len(variables):
            raise ResultFormatError(f"TSV row has {len(cells)} cells for {len(variables)} variables: {line!r}")
        rows.append({v: parse_turtle_term(c) for v, c in zip(variables, cells, strict=True) if c.strip()})
    return ResultTable(variables, rows)


def parse_csv(text: str) -> ResultTable:
    """SPARQL 1.1 Query Results CSV Format: lexical forms only (see :attr:`ResultTable.lexical_only`)."""
    records = list(csv.reader(io.StringIO(text, newline="")))
    if not records:
        raise ResultFormatError("empty CSV document")
    variables = tuple(records[0])
    rows: list[Row] = []
    for record in records[1:]:
        if len(record) != len(variables):
            raise ResultFormatError(f"CSV row has {len(record)} fields for {len(variables)} variables: {record!r}")
        row: Row = {}
        for name, cell in zip(variables, record, strict=True):
            if cell.startswith("_:"):
                row[name] = BNode(cell[2:])
            elif cell:
                row[name] = literal(cell)
        rows.append(row)
    return ResultTable(variables, rows, lexical_only=True)


_NUMBER = re.compile(r"[+-]?(?:(\d+)|(\d*\.\d+)|((?:\d+\.?\d*|\.\d+)[eE][+-]?\d+))$")
_ESCAPES = {"t": "\t", "b": "\b", "n": "\n", "r": "\r", "f": "\f", '"': '"', "'": "'", "\\": "\\"}


def parse_turtle_term(text: str) -> Identifier:
    """One RDF term in Turtle/SPARQL syntax without prefixes: ``<iri>``, ``_:b``, ``"lit"@en``,
    ``"lit"^^<dt>``, a bare number or boolean."""
    text = text.strip()
    if text.startswith("<") and text.endswith(">"):
        return URIRef(text[1:-1])
    if text.startswith("_:"):
        return BNode(text[2:])
    if text in ("true", "false"):
        return literal(text, str(XSD.boolean))
    number = _NUMBER.match(text)
    if number:
        datatype = XSD.integer if number.group(1) else XSD.decimal if number.group(2) else XSD.double
        return literal(text, str(datatype))
    if text[:1] in "\"'":
        quote = text[0] * 3 if text[:3] == text[0] * 3 else text[0]
        end = _closing_quote(text, quote)
        lexical = _unescape(text[len(quote) : end])
        rest = text[end + len(quote) :]
        if rest.startswith("@"):
            return literal(lexical, lang=rest[1:])
        if rest.startswith("^^<") and rest.endswith(">"):
            return literal(lexical, rest[3:-1])
        if not rest:
            return literal(lexical)
    raise ResultFormatError(f"cannot read RDF term {text!r}")


def _closing_quote(text: str, quote: str) -> int:
    i = len(quote)
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text.startswith(quote, i):
            return i
        i += 1
    raise ResultFormatError(f"unterminated literal {text!r}")


def _unescape(body: str) -> str:
    def repl(m: re.Match[str]) -> str:
        esc = m.group(1)
        if esc[0] in "uU":
            return chr(int(esc[1:], 16))
        return _ESCAPES[esc]

    return re.sub(r"\\(u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|[tbnrf\"'\\])", repl, body)


def parse_rdf_results(graph: Graph) -> QueryOutcome:
    """An ``rs:ResultSet`` in an RDF graph as a table or boolean; a graph without one is returned as is."""
    result_sets = list(graph.subjects(RDF.type, RS.ResultSet))
    if not result_sets:
        return graph
    if len(result_sets) > 1:
        raise ResultFormatError("more than one rs:ResultSet")
    rs = result_sets[0]
    boolean = graph.value(rs, RS.boolean)
    if boolean is not None:
        return _boolean(str(boolean))
    variables = tuple(sorted(str(v) for v in graph.objects(rs, RS.resultVariable)))
    indexed: list[tuple[int, Row]] = []
    unindexed: list[Row] = []
    for solution in graph.objects(rs, RS.solution):
        row: Row = {}
        for binding in graph.objects(solution, RS.binding):
            name, value = graph.value(binding, RS.variable), graph.value(binding, RS.value)
            if name is None or not isinstance(value, URIRef | BNode | Literal):
                raise ResultFormatError("rs:binding without rs:variable or an RDF term as rs:value")
            row[str(name)] = value
        index = graph.value(solution, RS["index"])  # RS.index would be str.index
        if index is None:
            unindexed.append(row)
        else:
            indexed.append((int(str(index)), row))
    if indexed and unindexed:
        raise ResultFormatError("some rs:solution have rs:index and some do not")
    if indexed:
        return ResultTable(variables, [row for _, row in sorted(indexed, key=lambda p: p[0])], ordered=True)
    # Graph order is arbitrary: sort for a stable display; ordered=False says order is not meaningful.
    return ResultTable(variables, sorted(unindexed, key=lambda r: sorted((k, v.n3()) for k, v in r.items())), False)


def _boolean(text: str) -> bool:
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise ResultFormatError(f"not a boolean: {text!r}")
