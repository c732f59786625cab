"""Result formats of the endpoint: content negotiation and the serializers.

SELECT and ASK results: SPARQL 1.1 Query Results JSON and XML; SELECT also CSV and TSV (SPARQL 1.1 Query
Results CSV and TSV Formats: CSV holds bare values, TSV holds terms in N-Triples syntax). CONSTRUCT and
DESCRIBE graphs: Turtle and N-Triples. Simple literals are written without a datatype (RDF 1.1: they are
``xsd:string``), language-tagged ones with ``xml:lang``, blank nodes with their label.
"""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

from rdflib import XSD, BNode, Graph, Literal, URIRef
from rdflib.term import Node

from esdl.api.errors import NotAcceptable
from semantic.sparql.engine import SelectResult

SOLUTIONS = frozenset({"SELECT", "ASK"})
GRAPHS = frozenset({"CONSTRUCT", "DESCRIBE"})
RESULTS_NS = "http://www.w3.org/2005/sparql-results#"
W3C_FORMATS = "http://www.w3.org/ns/formats/"


@dataclass(frozen=True)
class Format:
    """A result format.

    Attributes:
        name: Short name (``format=`` and the CLI's ``--format``).
        media_type: The media type served.
        aliases: Other media types (in ``Accept``) that select it.
        forms: Query forms it can represent.
        w3c: Local name of its W3C format IRI (service description).
    """

    name: str
    media_type: str
    aliases: tuple[str, ...]
    forms: frozenset[str]
    w3c: str

    @property
    def iri(self) -> str:
        """The W3C format IRI (``http://www.w3.org/ns/formats/...``)."""
        return W3C_FORMATS + self.w3c

    @property
    def content_type(self) -> str:
        """The ``Content-Type`` header (with the charset for ``text/*``)."""
        return self.media_type + ("; charset=utf-8" if self.media_type.startswith("text/") else "")


FORMATS: tuple[Format, ...] = (  # in order of preference: the first that fits a form is its default
    Format("json", "application/sparql-results+json", ("application/json",), SOLUTIONS, "SPARQL_Results_JSON"),
    Format("xml", "application/sparql-results+xml", ("application/xml",), SOLUTIONS, "SPARQL_Results_XML"),
    Format("csv", "text/csv", (), frozenset({"SELECT"}), "SPARQL_Results_CSV"),
    Format("tsv", "text/tab-separated-values", (), frozenset({"SELECT"}), "SPARQL_Results_TSV"),
    Format("turtle", "text/turtle", ("application/x-turtle",), GRAPHS, "Turtle"),
    Format("ntriples", "application/n-triples", (), GRAPHS, "N-Triples"),
)
FORMAT_NAMES = {f.name: f for f in FORMATS} | {"ttl": FORMATS[4], "nt": FORMATS[5]}


def _accept_ranges(accept: str) -> list[tuple[str, str, float]]:
    ranges = []
    for item in accept.split(","):
        media, *params = (p.strip() for p in item.split(";"))
        if "/" not in media:
            continue
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = min(1.0, max(0.0, float(value)))
                except ValueError:
                    q = 0.0
        major, _, minor = media.lower().partition("/")
        ranges.append((major, minor, q))
    return ranges


def _quality(media_type: str, ranges: list[tuple[str, str, float]]) -> float:
    """q of the most specific range matching ``media_type`` (0: none)."""
    major, _, minor = media_type.partition("/")
    best, specificity = 0.0, -1
    for r_major, r_minor, q in ranges:
        if (r_major, r_minor) == (major, minor):
            rank = 2
        elif r_major == major and r_minor == "*":
            rank = 1
        elif r_major == "*" and r_minor == "*":
            rank = 0
        else:
            continue
        if rank > specificity:
            best, specificity = q, rank
    return best


def negotiate(form: str, accept: str | None, fmt: str | None = None) -> Format:
    """The format to answer a query of ``form`` in.

    ``fmt`` (a short name or a media type, from ``format=``) wins over ``Accept``; without either the form's
    default (JSON results, Turtle). Ties in ``Accept`` go to the order of :data:`FORMATS`.

    Raises:
        NotAcceptable: Nothing offered for ``form`` is acceptable.
    """
    offered = [f for f in FORMATS if form in f.forms]
    media = [f.media_type for f in offered]
    if fmt is not None:
        key = fmt.strip().lower()
        for f in offered:
            if key in (f.name, f.media_type, *f.aliases) or FORMAT_NAMES.get(key) == f:
                return f
        raise NotAcceptable(f"format {fmt!r} is not offered for {form} queries", media)
    if not accept or not accept.strip():
        return offered[0]
    ranges = _accept_ranges(accept)
    scored = [(max(_quality(m, ranges) for m in (f.media_type, *f.aliases)), -i, f) for i, f in enumerate(offered)]
    q, _, best = max(scored, key=lambda s: (s[0], s[1]))
    if q <= 0:
        raise NotAcceptable(f"no format of {form} results matches Accept: {accept}", media)
    return best


def serialize(result: SelectResult | bool | Graph, fmt: Format) -> bytes:
    """The bytes of ``result`` (a SELECT result, an ASK answer or a graph) in ``fmt``."""
    if isinstance(result, Graph):
        return result.serialize(format="turtle" if fmt.name == "turtle" else "nt", encoding="utf-8")
    writer = {"json": to_json, "xml": to_xml, "csv": to_csv, "tsv": to_tsv}[fmt.name]
    return writer(result)


def _json_term(term: Node) -> dict[str, str]:
    if isinstance(term, URIRef):
        return {"type": "uri", "value": str(term)}
    if isinstance(term, BNode):
        return {"type": "bnode", "value": str(term)}
    assert isinstance(term, Literal)
    out = {"type": "literal", "value": str(term)}
    if term.language:
        out["xml:lang"] = term.language
    elif term.datatype is not None and term.datatype != XSD.string:
        out["datatype"] = str(term.datatype)
    return out


def to_json(result: SelectResult | bool) -> bytes:
    """SPARQL 1.1 Query Results JSON."""
    doc: dict[str, Any]
    if isinstance(result, bool):
        doc = {"head": {}, "boolean": result}
    else:
        bindings = [{v: _json_term(t) for v, t in row.items()} for row in result.rows]
        doc = {"head": {"vars": result.variables}, "results": {"bindings": bindings}}
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


def to_xml(result: SelectResult | bool) -> bytes:
    """SPARQL Query Results XML."""
    root = ET.Element("sparql", xmlns=RESULTS_NS)
    head = ET.SubElement(root, "head")
    if isinstance(result, bool):
        ET.SubElement(root, "boolean").text = "true" if result else "false"
    else:
        for v in result.variables:
            ET.SubElement(head, "variable", name=v)
        results = ET.SubElement(root, "results")
        for row in result.rows:
            solution = ET.SubElement(results, "result")
            for v, term in row.items():
                binding = ET.SubElement(solution, "binding", name=v)
                if isinstance(term, URIRef):
                    ET.SubElement(binding, "uri").text = str(term)
                elif isinstance(term, BNode):
                    ET.SubElement(binding, "bnode").text = str(term)
                else:
                    assert isinstance(term, Literal)
                    literal = ET.SubElement(binding, "literal")
                    literal.text = str(term)
                    if term.language:
                        literal.set("{http://www.w3.org/XML/1998/namespace}lang", term.language)
                    elif term.datatype is not None and term.datatype != XSD.string:
                        literal.set("datatype", str(term.datatype))
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _csv_value(term: Node | None) -> str:
    if term is None:
        return ""
    if isinstance(term, BNode):
        return f"_:{term}"
    return str(term)  # IRIs and literals' lexical forms; CSV drops datatypes and languages


def to_csv(result: SelectResult | bool) -> bytes:
    """SPARQL 1.1 Query Results CSV (RFC 4180: quoted where needed, CRLF line ends)."""
    assert isinstance(result, SelectResult)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(result.variables)
    for row in result.rows:
        writer.writerow([_csv_value(row.get(v)) for v in result.variables])
    return out.getvalue().encode("utf-8")


_STRING_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_IRI_FORBIDDEN = set('<>"{}|^`\\')


def _nt_iri(iri: str) -> str:
    return "<" + "".join(f"\\u{ord(c):04X}" if c in _IRI_FORBIDDEN or ord(c) <= 0x20 else c for c in iri) + ">"


def nt_term(term: Node) -> str:
    """A term in N-Triples syntax (on one line: tabs and line breaks in literals are escaped)."""
    if isinstance(term, URIRef):
        return _nt_iri(str(term))
    if isinstance(term, BNode):
        return f"_:{term}"
    assert isinstance(term, Literal)
    text = '"' + "".join(_STRING_ESCAPES.get(c, c) for c in str(term)) + '"'
    if term.language:
        return f"{text}@{term.language}"
    if term.datatype is not None and term.datatype != XSD.string:
        return f"{text}^^{_nt_iri(str(term.datatype))}"
    return text


def to_tsv(result: SelectResult | bool) -> bytes:
    """SPARQL 1.1 Query Results TSV: ``?var`` headers, terms in N-Triples syntax, LF line ends."""
    assert isinstance(result, SelectResult)
    lines = ["\t".join(f"?{v}" for v in result.variables)]
    for row in result.rows:
        lines.append("\t".join("" if row.get(v) is None else nt_term(row[v]) for v in result.variables))
    return ("\n".join(lines) + "\n").encode("utf-8")
