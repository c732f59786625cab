"""Loading RDF files into the quad table ``rdf_quad``.

A file is parsed completely before anything is written (a syntax error names the file and, where the parser
tells, the line). Its quads go to a temporary table by ``COPY`` and from there into ``rdf_quad`` with
``ON CONFLICT DO NOTHING``: quads are a set, so loading the same file again adds nothing.

Blank nodes are scoped per load: each label is prefixed with a hash of the load's ``source`` and of the file's
content, and numbered in the order the parser produced them. Two different files (or the same file under two
sources) never share a blank node, while reloading an unchanged file gives the same labels, hence no new rows.

Literals keep their lexical form as written (rdflib's normalisation of well-typed literals is switched off
while parsing): ``"01"^^xsd:integer`` stays ``01``, with the value 1 in ``o_num``.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import logging
import re
import threading
import time
import xml.sax
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast

import rdflib
import sqlalchemy as sa
from rdflib import BNode, Dataset, Literal, URIRef
from rdflib.graph import DATASET_DEFAULT_GRAPH_ID
from rdflib.plugins.stores.memory import Memory
from rdflib.term import Node
from sqlalchemy.dialects.postgresql import insert as pg_insert

from semantic.errors import RdfError
from semantic.rdf.terms import BLANK, IRI, TermRow, term_rows
from semantic.store.copy import copy_text_rows
from semantic.store.models import RdfQuad

# --format values (and their aliases) -> rdflib parser names
FORMATS: dict[str, str] = {
    "turtle": "turtle",
    "ttl": "turtle",
    "nt": "nt",
    "ntriples": "nt",
    "n-triples": "nt",
    "nquads": "nquads",
    "nq": "nquads",
    "n-quads": "nquads",
    "trig": "trig",
    "xml": "xml",
    "rdfxml": "xml",
    "rdf/xml": "xml",
    "json-ld": "json-ld",
    "jsonld": "json-ld",
}
SUFFIXES: dict[str, str] = {
    ".ttl": "turtle",
    ".turtle": "turtle",
    ".nt": "nt",
    ".ntriples": "nt",
    ".nq": "nquads",
    ".nquads": "nquads",
    ".trig": "trig",
    ".rdf": "xml",
    ".xml": "xml",
    ".owl": "xml",
    ".jsonld": "json-ld",
    ".json": "json-ld",
}
LINE_FORMATS = frozenset({"nt", "nquads"})
COLUMNS = ["graph", "s_kind", "s", "p", "o_kind", "o", "o_dt", "o_lang", "o_num", "o_ts", "o_geom", "source"]
_ABSOLUTE_IRI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s<>\"{}|\\^`]*")

Row = tuple[Any, ...]


@dataclass(frozen=True)
class RdfFile:
    """A parsed RDF file: its quads as ``rdf_quad`` rows (without ``id``), distinct, in the file's order."""

    path: str
    source: str
    format: str
    rows: list[Row]
    graphs: int
    ill_typed: int
    parse_s: float


@dataclass(frozen=True)
class LoadResult:
    """What a load did: distinct quads in the file, how many were new, how many were already stored."""

    file: str
    source: str
    format: str
    graphs: int
    quads: int
    inserted: int
    already_present: int
    ill_typed: int
    parse_s: float
    write_s: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return asdict(self)


def resolve_format(path: str | Path, fmt: str | None = None) -> str:
    """The rdflib parser name for ``fmt`` (an alias of :data:`FORMATS`), or guessed from the file's suffix.

    A ``.gz`` suffix is looked through (``data.nt.gz`` is N-Triples).

    Raises:
        RdfError: Unknown format, or no known suffix.
    """
    if fmt is not None:
        if fmt.lower() not in FORMATS:
            raise RdfError(f"unknown RDF format {fmt!r}: use one of {', '.join(sorted(FORMATS))}")
        return FORMATS[fmt.lower()]
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    if not suffixes or suffixes[-1] not in SUFFIXES:
        raise RdfError(f"{path}: cannot tell the RDF format from the file name: pass a format ({', '.join(FORMATS)})")
    return SUFFIXES[suffixes[-1]]


def check_graph_iri(graph: str) -> str:
    """``graph`` if it is an absolute IRI (a scheme, then no spaces or ``<>"{}|\\^``` characters).

    Raises:
        RdfError: Not an absolute IRI.
    """
    if not _ABSOLUTE_IRI.fullmatch(graph):
        raise RdfError(f"graph {graph!r} is not an absolute IRI (e.g. https://example.org/graph)")
    return graph


class _Recorder(Memory):
    """An rdflib store that only records the quads the parser adds, in order, without indexing them."""

    def __init__(self) -> None:
        super().__init__()
        self.quads: dict[tuple[Node, Node, Node, Node], None] = {}
        self.added = 0

    def add(self, triple: Any, context: Any, quoted: bool = False) -> None:
        if quoted:
            raise RdfError("N3 formulas (quoted graphs) are not RDF")
        s, p, o = triple
        self.added += 1
        self.quads[(s, p, o, context.identifier)] = None


_PARSE_LOCK = threading.Lock()


def _drop_ill_typed_warnings(record: logging.LogRecord) -> bool:
    # ill-typed literals are kept and counted; rdflib would log each one with a traceback
    return not str(record.msg).startswith("Failed to convert Literal lexical form")


@contextlib.contextmanager
def literals_as_written() -> Iterator[None]:
    """Literals keep their lexical forms while rdflib parses (a process-wide rdflib switch, hence the lock)."""
    logger = logging.getLogger("rdflib.term")
    with _PARSE_LOCK:
        previous = rdflib.NORMALIZE_LITERALS
        rdflib.NORMALIZE_LITERALS = False
        logger.addFilter(_drop_ill_typed_warnings)
        try:
            yield
        finally:
            rdflib.NORMALIZE_LITERALS = previous
            logger.removeFilter(_drop_ill_typed_warnings)


def _open(path: Path) -> BinaryIO:
    return cast(BinaryIO, gzip.open(path, "rb")) if path.suffix.lower() == ".gz" else path.open("rb")


def _content_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with _open(path) as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _statement_line(path: Path, statements_before: int) -> int | None:
    """The line of the N-Triples/N-Quads statement after ``statements_before`` good ones (blank lines and comments
    hold none)."""
    seen = 0
    with io.TextIOWrapper(_open(path), encoding="utf-8", errors="replace", newline="") as f:
        for number, line in enumerate(f, start=1):
            text = line.lstrip(" \t").rstrip("\r\n")
            if not text or text.startswith("#"):
                continue
            if seen == statements_before:
                return number
            seen += 1
    return None


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _parse_error(path: Path, fmt: str, err: Exception, statements_before: int) -> RdfError:
    """A one-line error naming the file and, where known, the line."""
    line: int | None = None
    reason = str(err)
    if isinstance(err, SyntaxError) and hasattr(err, "lines"):  # rdflib's Turtle/TriG BadSyntax
        line = int(err.lines) + 1
        reason = str(getattr(err, "_why", reason))
    elif isinstance(err, xml.sax.SAXParseException):
        line, reason = err.getLineNumber(), err.getMessage()
    elif isinstance(err, json.JSONDecodeError):
        line, reason = err.lineno, err.msg
    elif fmt in LINE_FORMATS:
        line = _statement_line(path, statements_before)
        reason = reason.split("\n", 1)[0]
        if m := re.fullmatch(r"Invalid line \((.*)\):", reason):  # N-Quads: the line itself follows
            reason = m[1]
    where = f"{path}: line {line}" if line is not None else str(path)
    return RdfError(f"{where}: {_one_line(reason) or type(err).__name__}")


def _parse(path: Path, fmt: str) -> _Recorder:
    store = _Recorder()
    with literals_as_written(), _open(path) as f:
        try:
            # the default graph parses: triples go to it, quad formats add their named graphs to its store
            Dataset(store=store).default_graph.parse(file=f, format=fmt, publicID=path.resolve().as_uri())
        except RdfError as err:
            raise RdfError(f"{path}: {err}") from err
        except Exception as err:  # parsers raise anything from BadSyntax to KeyError on bad input
            raise _parse_error(path, fmt, err, store.added) from err
    return store


def read_rdf(path: str | Path, graph: str | None = None, fmt: str | None = None, source: str | None = None) -> RdfFile:
    """Parse an RDF file into ``rdf_quad`` rows; nothing is written.

    Args:
        path: The file: Turtle, RDF/XML, N-Triples, N-Quads, TriG or JSON-LD, optionally gzipped.
        graph: The named graph (an absolute IRI) for the file's default graph; ``None``: the default graph.
            Named graphs of a TriG, N-Quads or JSON-LD file are kept.
        fmt: The format (a key of :data:`FORMATS`); ``None``: guessed from the suffix.
        source: What the rows record as their origin; ``None``: the file's absolute path. It also scopes the
            file's blank nodes.

    Raises:
        RdfError: Unreadable file, unknown format, bad graph IRI, syntax error (with file and line), or a
            literal PostgreSQL cannot store (U+0000).
    """
    path = Path(path)
    rdf_format = resolve_format(path, fmt)
    if graph is not None:
        check_graph_iri(graph)
    if not path.is_file():
        raise RdfError(f"{path}: no such file")
    source = source if source is not None else str(path.resolve())
    start = time.perf_counter()
    try:
        scope = hashlib.sha256(f"{source}\n{_content_hash(path)}".encode()).hexdigest()[:16]
    except (OSError, EOFError) as err:
        raise RdfError(f"{path}: cannot read: {err}") from err
    store = _parse(path, rdf_format)
    rows, ill_typed = _rows(path, store, scope, graph or "", source)
    graphs = len({row[0] for row in rows})
    return RdfFile(str(path), source, rdf_format, rows, graphs, ill_typed, time.perf_counter() - start)


def _rows(path: Path, store: _Recorder, scope: str, default: str, source: str) -> tuple[list[Row], int]:
    """The distinct ``rdf_quad`` rows of the parsed quads, and how many have an ill-typed object."""
    labels: dict[BNode, str] = {}

    def label(node: BNode) -> str:  # numbered in the order the parser produced them
        if (name := labels.get(node)) is None:
            name = labels[node] = f"{scope}_{len(labels)}"
        return name

    staged: list[tuple[str, int, str, str, Node]] = []
    for s, p, o, g in store.quads:
        if g == DATASET_DEFAULT_GRAPH_ID:
            graph_name = default
        elif isinstance(g, BNode):
            graph_name = "_:" + label(g)
        else:
            graph_name = str(g)
        if isinstance(s, URIRef):
            s_kind, s_lex = IRI, str(s)
        elif isinstance(s, BNode):
            s_kind, s_lex = BLANK, label(s)
        else:
            raise RdfError(f"{path}: {s.n3()} as a subject is not RDF")
        if not isinstance(p, URIRef):
            raise RdfError(f"{path}: {p.n3()} as a predicate is not RDF")
        if isinstance(o, BNode):
            label(o)
        elif isinstance(o, Literal) and "\x00" in o:
            raise RdfError(f"{path}: a literal holds U+0000, which PostgreSQL text cannot store")
        staged.append((graph_name, s_kind, s_lex, str(p), o))
    distinct = list(dict.fromkeys(o for *_, o in staged if not isinstance(o, BNode)))
    objects: dict[Node, TermRow] = dict(zip(distinct, term_rows(distinct), strict=True))  # geometries in bulk
    objects.update((node, TermRow(BLANK, name)) for node, name in labels.items())
    rows: dict[Row, None] = {}
    ill_typed: set[Row] = set()
    for graph_name, s_kind, s_lex, p_iri, o in staged:
        obj = objects[o]
        row = (graph_name, s_kind, s_lex, p_iri, obj.kind, obj.lex, obj.dt, obj.lang, obj.num, obj.ts, obj.geom, source)
        rows[row] = None  # "x" and "x"^^xsd:string, "x"@EN and "x"@en are one term
        if obj.ill_typed:
            ill_typed.add(row)
    return list(rows), len(ill_typed)


def _load_table() -> sa.Table:
    """The temporary table a load COPYs into: ``rdf_quad``'s columns without ``id`` and constraints."""
    quad = cast(sa.Table, RdfQuad.__table__)
    return sa.Table(
        "rdf_quad_load",
        sa.MetaData(),
        *(sa.Column(name, quad.c[name].type) for name in COLUMNS),
        prefixes=["TEMPORARY"],
        postgresql_on_commit="DROP",
    )


def write_quads(conn: sa.Connection, rdf: RdfFile) -> LoadResult:
    """Add the quads of a parsed file to ``rdf_quad`` (on the connection's transaction); quads already there
    are left alone.

    Raises:
        RdfError: A quad the indexes cannot hold (IRIs of several kilobytes).
    """
    start = time.perf_counter()
    load = _load_table()
    quad = cast(sa.Table, RdfQuad.__table__)
    load.drop(conn, checkfirst=True)  # left over by an earlier load in the same transaction
    load.create(conn)
    try:
        copy_text_rows(conn, load.name, COLUMNS, rdf.rows)
        insert = (
            pg_insert(quad)
            .from_select(COLUMNS, sa.select(*(load.c[name] for name in COLUMNS)).order_by(load.c.s, load.c.p))
            .on_conflict_do_nothing()
        )
        new = insert.returning(quad.c.id).cte("new")  # counted in the database, not by the driver's rowcount
        inserted = int(conn.execute(sa.select(sa.func.count()).select_from(new)).scalar_one())
    except sa.exc.OperationalError as err:
        if getattr(err.orig, "sqlstate", None) == "54000":  # program_limit_exceeded: an index row is too big
            raise RdfError(
                f"{rdf.path}: a quad is too large for the rdf_quad indexes: {_one_line(str(err.orig))}"
            ) from err
        raise
    load.drop(conn)
    return LoadResult(
        file=rdf.path,
        source=rdf.source,
        format=rdf.format,
        graphs=rdf.graphs,
        quads=len(rdf.rows),
        inserted=inserted,
        already_present=len(rdf.rows) - inserted,
        ill_typed=rdf.ill_typed,
        parse_s=round(rdf.parse_s, 3),
        write_s=round(time.perf_counter() - start, 3),
    )


def load_rdf(
    conn: sa.Connection,
    path: str | Path,
    graph: str | None = None,
    fmt: str | None = None,
    source: str | None = None,
) -> LoadResult:
    """Parse an RDF file and add its quads to ``rdf_quad``, on the connection's transaction.

    See :func:`read_rdf` for the arguments. Loading a file again (same content, same ``source``) inserts
    nothing. Everything is parsed before anything is written, so a syntax error writes nothing.

    Raises:
        RdfError: See :func:`read_rdf` and :func:`write_quads`.
    """
    return write_quads(conn, read_rdf(path, graph=graph, fmt=fmt, source=source))
