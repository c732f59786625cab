"""The endpoint under generated input: no 5xx (but 503 ``timeout`` / ``busy``), no hang, no database restart.

Two bounded, reproducible fuzzers (``derandomize=True``: the same examples on every run):

- a grammar of SPARQL 1.1 queries (Hypothesis): every query form, graph patterns, property paths, aggregates,
  sub-queries, built-in and GeoSPARQL functions over literals of many kinds, hostile ones included (NaN, huge
  integers, escapes of NUL and of lone surrogates, malformed WKT, invalid regular expressions), and now and then
  a character deleted or inserted so that the parser's error path is taken too; sent over GET, direct POST and
  form POST with assorted ``Accept`` headers, against a small loaded dataset;
- Schemathesis over the endpoint's OpenAPI document, as served (it declares the protocol's parameters, bodies and
  error answers) and with sample queries offered for ``query`` and the ``Accept`` header as a parameter.

Every error answer must be JSON ``{"error": ..., "message": ...}``; an internal error fails with the traceback the
server logged under its id.
"""

from __future__ import annotations

import copy
import json
import logging
import re
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from esdl.api.app import create_app
from esdl.api.settings import SparqlSettings
from semantic.geosparql.functions import FUNCTIONS, ArgKind
from semantic.rdf.load import load_rdf
from semantic.store.db import make_engine

TIMEOUT_S = 5.0  # statement timeout of one query
TRANSLATE_S = 5.0  # translation limit of one query
# longer than this for one request: a hang (the translation limit counts CPU time, bounded at 4 times it of wall-clock
# time on a loaded machine; then the statement timeout, and room for the serialisation)
HANG_S = 4 * TRANSLATE_S + TIMEOUT_S + 30
ALLOWED_503 = {"timeout", "busy"}
QUERY_EXAMPLES = 300
SCHEMA_EXAMPLES = 25  # per operation

DATA = r"""
@prefix ex: <http://ex/> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
@prefix geo: <http://www.opengis.net/ont/geosparql#> .
ex:a a ex:Thing ; ex:p 1, 2, "x", "y"@en ; ex:name "Alice" ; ex:born "1990-05-01T00:00:00Z"^^xsd:dateTime ;
    ex:knows ex:b ; geo:hasGeometry ex:ga .
ex:ga a geo:Geometry ; geo:asWKT "POINT(1 2)"^^geo:wktLiteral .
ex:b a ex:Thing ; ex:p 3.5, -7 ; ex:name "Bob"@en, "Robert"@de-CH ; ex:knows ex:c ;
    ex:born "1985-01-01T12:30:00+02:00"^^xsd:dateTime ; geo:hasGeometry ex:gb .
ex:gb a geo:Geometry ; geo:asWKT "POLYGON((0 0, 4 0, 4 4, 0 4, 0 0))"^^geo:wktLiteral .
ex:c ex:p "2"^^xsd:double, "NaN"^^xsd:double, "INF"^^xsd:double, "-0.0"^^xsd:float ; ex:name "carol" ;
    ex:day "2020-02-29"^^xsd:date ; ex:flag true .
ex:d ex:p 123456789012345678901234567890, 0.000000000000000000001 ; ex:name "quote \" back \\ tab \t é 日本" ;
    ex:note "line1\nline2"@en-US ; ex:odd "abc"^^ex:custom ; geo:hasGeometry ex:gd .
ex:gd geo:asWKT "<http://www.opengis.net/def/crs/EPSG/0/4326> LINESTRING(2 1, 3 5)"^^geo:wktLiteral .
_:z ex:p ex:a ; ex:knows ex:b .
"""

PREFIXES = (
    "PREFIX ex: <http://ex/> PREFIX xsd: <http://www.w3.org/2001/XMLSchema#> "
    "PREFIX rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#> PREFIX geo: <http://www.opengis.net/ont/geosparql#> "
    "PREFIX geof: <http://www.opengis.net/def/function/geosparql/> PREFIX uom: <http://www.opengis.net/def/uom/OGC/1.0/>\n"
)

# -- the endpoint and its checks ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class KnownBug:
    """A 500 the fuzzer found that the product has yet to fix: tolerated (and counted) where both the query and the
    server's traceback show it, so that the fuzzer keeps looking for others; its minimal query becomes an
    entry in :data:`FOUND` once the bug is fixed."""

    name: str
    query: re.Pattern[str]  # the query's text shows the trigger
    log: str  # the server's logged traceback holds this
    minimal: str  # the smallest query that shows it (without the prologue)
    accept: str | None = None  # the Accept header it needs


KNOWN_BUGS: list[KnownBug] = []  # none open: those this fuzzer found are fixed, see FOUND


# the 500s this fuzzer found (fixed since), minimal: each must keep getting no 5xx
FOUND = {
    # a VALUES block without rows or without variables: rdflib's algebra of it is a plain list, not a node
    "values-empty": "SELECT * WHERE { VALUES ?s { } }",
    # an empty CONSTRUCT template was taken for CONSTRUCT WHERE, whose pattern walk read a missing key
    "construct-empty-template": "CONSTRUCT { } WHERE { OPTIONAL { ?s ?p ?o } }",
    # REGEX flags s or x: the "(?sx)" prefix joined with "||" bound to the regex match, not to the pattern
    "regex-flags-s-x": 'SELECT (REGEX("a", "b", "x") AS ?r) WHERE { }',
    # a curved WKT geometry: GEOS raises NotImplementedError, which nothing turned into an expression error
    "curved-wkt": 'SELECT (geof:envelope("CIRCULARSTRING(0 0, 1 1, 2 0)"^^geo:wktLiteral) AS ?e) WHERE { }',
    # a lone surrogate in a CONSTRUCT template's constant or a DESCRIBE IRI (no SQL parameter, so the check of
    # the query's strings never saw it): the serialiser could not encode it
    "surrogate-in-construct-template": 'CONSTRUCT { ex:a ex:p "\\uD800" } WHERE { }',
    "surrogate-in-describe-iri": "DESCRIBE <http://ex/\\uD800>",
}


class _Incidents(logging.Handler):
    """The server's logged internal errors, by the id their 500 body carries."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def traceback_of(self, body: str) -> str:
        """The logged error (with its traceback) whose incident id ``body`` names; "" if none."""
        for record in reversed(self.records):
            words = record.getMessage().split()  # "internal error <id> on <method> <path>"
            if len(words) > 2 and words[2] in body:
                return logging.Formatter().format(record)
        return ""


@dataclass
class Endpoint:
    client: TestClient
    engine: sa.Engine
    incidents: _Incidents
    statuses: Counter[str] = field(default_factory=Counter)
    known: Counter[str] = field(default_factory=Counter)  # KnownBug hits
    slowest: list[tuple[float, str]] = field(default_factory=list)  # (seconds, request) of the slowest requests
    pool: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1))

    def quads(self) -> Any:
        """How many quads the database holds, and a digest of them: no query may write."""
        with self.engine.connect() as conn:
            return conn.execute(
                sa.text("SELECT count(*), md5(string_agg(q::text, ',' ORDER BY q::text)) FROM rdf_quad q")
            ).one()

    def incarnation(self) -> Any:
        """The server's start time and its checkpointer's pid: either changes when PostgreSQL restarts, a crash
        restart (a backend killed, the postmaster reinitialising) included."""
        from esdl_testing.database import server_incarnation

        with self.engine.connect() as conn:
            return server_incarnation(conn)

    def request(self, method: str, url: str, **kw: Any) -> Any:
        """The response, or a failure if it takes longer than :data:`HANG_S` (the request's thread is left)."""
        start = time.monotonic()
        future = self.pool.submit(self.client.request, method, url, **kw)
        try:
            response = future.result(timeout=HANG_S)
        except FutureTimeout:
            pytest.fail(f"hang: no answer in {HANG_S:g} s to {method} {url} {kw!r}")
        self.timed(time.monotonic() - start, f"{method} {url} {kw!r}")
        return response

    def timed(self, seconds: float, what: str) -> None:
        self.slowest = sorted([*self.slowest, (seconds, what)], reverse=True)[:3]

    def check(self, status: int, media: str, content: bytes, what: str, query: str = "") -> None:
        """No 5xx but 503 timeout/busy (and the :data:`KNOWN_BUGS` of ``query``); JSON errors; well-formed JSON and
        XML answers."""
        body = content.decode("utf-8", "replace")
        code = None
        if status >= 400:
            try:
                parsed = json.loads(content)
            except ValueError:
                pytest.fail(f"{status} without a JSON body for {what}:\n{body[:2000]}")
            assert isinstance(parsed, dict), (status, body, what)
            assert isinstance(parsed.get("error"), str) and isinstance(parsed.get("message"), str), (status, body, what)
            code = parsed["error"]
        self.statuses[f"{status} {code}" if code else str(status)] += 1
        if status >= 500 and not (status == 503 and code in ALLOWED_503):
            log = self.incidents.traceback_of(body) if status == 500 else ""
            known = [b.name for b in KNOWN_BUGS if query and b.query.search(query) and b.log in log]
            if known:
                self.known[known[0]] += 1
                return
            pytest.fail(f"{status} for {what}\nbody: {body[:2000]}\nserver log:\n{log[-6000:]}")
        if status == 200:
            media = media.split(";")[0].strip()
            try:
                if media.endswith("json"):
                    json.loads(content)
                elif media.endswith("xml"):
                    ET.fromstring(content)
            except (ValueError, ET.ParseError) as err:
                pytest.fail(f"200 {media} that does not parse ({err}) for {what}:\n{body[:2000]}")


@pytest.fixture(scope="module")
def endpoint(postgis_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    from esdl_testing.database import fresh_database

    data = tmp_path_factory.mktemp("fuzz") / "data.ttl"
    data.write_text(DATA, encoding="utf-8")
    incidents = _Incidents()
    log = logging.getLogger("esdl.api")
    log.addHandler(incidents)
    with fresh_database(postgis_server) as url:
        engine = make_engine(url)
        with engine.begin() as conn:
            load_rdf(conn, data, graph=None, fmt=None, source="fuzz")
        with engine.begin() as conn:  # the same triples in a named graph, for GRAPH and FROM NAMED
            load_rdf(conn, data, graph="http://ex/graph", fmt=None, source="fuzz-graph")
        settings_ = SparqlSettings(  # type: ignore[call-arg]
            _env_file=None, timeout_s=TIMEOUT_S, translate_timeout_s=TRANSLATE_S, max_rows=500, queue_timeout_s=30
        )
        try:
            with TestClient(create_app(settings_, engine=engine), raise_server_exceptions=False) as client:
                yield Endpoint(client, engine, incidents)
        finally:
            log.removeHandler(incidents)
            engine.dispose()


def _summary(endpoint: Endpoint, started: float, what: str) -> None:
    shown = ", ".join(f"{k}: {v}" for k, v in sorted(endpoint.statuses.items()))
    print(f"\n{what}: {sum(endpoint.statuses.values())} requests in {time.monotonic() - started:.1f} s ({shown})")
    if endpoint.known:
        print(f"known bugs hit (tolerated, see KNOWN_BUGS): {dict(endpoint.known)}")
    for seconds, request in endpoint.slowest:
        print(f"slow: {seconds:.1f} s {request[:1000]}")


@pytest.mark.parametrize("name", sorted(FOUND))
def test_what_the_fuzzer_found_stays_fixed(name: str, endpoint: Endpoint) -> None:
    """The minimal query of each 500 the fuzzer found gets no 5xx."""
    response = endpoint.request("GET", "/sparql", params={"query": PREFIXES + FOUND[name]})
    endpoint.check(response.status_code, response.headers.get("content-type", ""), response.content, FOUND[name])
    # a curve or a lone surrogate: 400 query
    assert response.status_code == (400 if name.startswith(("curved", "surrogate")) else 200), response.text


# -- the SPARQL grammar -------------------------------------------------------------------------------------------

VARS = ["?s", "?p", "?o", "?x", "?y", "?n", "?g", "$w"]
IRIS = [
    "ex:a",
    "ex:b",
    "ex:c",
    "ex:d",
    "ex:ga",
    "ex:p",
    "ex:name",
    "ex:knows",
    "ex:born",
    "ex:zz",
    "ex:Thing",
    "rdf:type",
    "geo:asWKT",
    "geo:hasGeometry",
    "<http://ex/a>",
    "<http://ex/ünï%20code>",
    "<relative>",
    "<>",
    "xsd:double",
    "uom:metre",
]
PREDICATES = ["ex:p", "ex:name", "ex:knows", "ex:born", "rdf:type", "a", "geo:asWKT", "geo:hasGeometry", "ex:zz"]
LANGS = ["en", "de", "en-US", "EN", "de-CH", "x-private-tag", "zh-Hant-TW"]
UNITS = [
    "uom:metre",
    "uom:degree",
    "uom:radian",
    "uom:unity",
    "<http://qudt.org/vocab/unit/M>",
    "<http://qudt.org/vocab/unit/KiloM>",
    "<http://www.opengis.net/def/uom/EPSG/0/9001>",
    "uom:furlong",
    "ex:a",
    '"metre"',
    "?x",
]
WKT_BODIES = [
    "POINT(1 2)",
    "POINT (0.5 -0.5)",
    "POLYGON((0 0, 4 0, 4 4, 0 4, 0 0))",
    "POLYGON((0 0, 2 2, 2 0, 0 2, 0 0))",  # self-intersecting bow tie
    "POLYGON((0 0, 1 1, 0 0))",  # too few points
    "LINESTRING(0 0, 1 1)",
    "MULTIPOINT((1 2), (3 4))",
    "GEOMETRYCOLLECTION(POINT(1 1), LINESTRING(0 0, 2 2))",
    "POINT EMPTY",
    "GEOMETRYCOLLECTION EMPTY",
    "POINT Z(1 2 3)",
    "CIRCULARSTRING(0 0, 1 1, 2 0)",
    "<http://www.opengis.net/def/crs/EPSG/0/4326> POINT(2 1)",
    "<http://www.opengis.net/def/crs/EPSG/0/3857> POINT(100000 200000)",
    "<http://www.opengis.net/def/crs/EPSG/0/999999> POINT(1 2)",
    "<not a crs> POINT(1 2)",
    "POINT(1",
    "POINT(1 2 3 4 5)",
    "not wkt",
    "",
    "POINT(NaN NaN)",
    "POINT(1e309 0)",
    "LINESTRING(0 0)",
]
NUMBERS = ["NaN", "nan", "INF", "-inf", "1e308", "-1e308", "1e309", "-1", "0", "4.9e-324", "90.0000001"]


def _escape(text: str) -> str:
    """``text`` as the inside of a SPARQL string, whichever its quotes."""
    for raw, escaped in (("\\", "\\\\"), ('"', '\\"'), ("'", "\\'"), ("\n", "\\n"), ("\r", "\\r")):
        text = text.replace(raw, escaped)
    return text


_raw_text = st.text(st.characters(codec="utf-8"), max_size=6).map(_escape)
_escapes = st.sampled_from(
    [
        r"\u0000",
        r"\uD800",
        r"\uDFFF",
        r"\uD83D\uDE00",
        r"\U0010FFFF",
        r"\U00110000",
        r"\u00e9",
        r"\t",
        r"\"",
        r"\\",
        r"\'",
        r"\b\f",
        "é",
        "日本",
        "Alice",
        "x",
        "2",
        "1990-05-01T00:00:00Z",
        "T*F**FFF*",
    ]
)
_string_body = st.lists(st.one_of(_raw_text, _escapes), max_size=3).map("".join)


@st.composite
def _string(draw: st.DrawFn) -> str:
    body = draw(_string_body)
    quoted = draw(st.sampled_from([f'"{body}"', f"'{body}'", f'"""{body}"""', f"'''{body}'''"]))
    suffix = draw(st.one_of(st.just(""), st.sampled_from(LANGS).map(lambda t: "@" + t), st.just("^^xsd:string")))
    return quoted + suffix


_integer = st.one_of(
    st.integers(-3, 10).map(str),
    st.integers().map(str),
    st.sampled_from(
        [
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775809",
            "99999999999999999999999999999999999999",
            "+0",
            "-0",
            "007",
        ]
    ),
)
_decimal = st.sampled_from(["3.5", "-0.0", ".5", "+1.", "0.000000000000000000001", "12345678901234567890.5"])
_double = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(lambda f: f"{f:e}"),
    st.sampled_from(["1e308", "1e309", "-1e309", "4.9e-324", "1e-400", "2.5E0", ".1e1"]),
)
_typed = st.tuples(
    st.sampled_from(
        [
            "NaN",
            "INF",
            "-INF",
            "1e309",
            "abc",
            "",
            " 1 ",
            "1990-05-01T00:00:00Z",
            "2020-02-30T00:00:00Z",
            "2020-01-01",
            "-0001-01-01T00:00:00",
            "24:00:00",
            "true",
            "1",
            "maybe",
            "P1Y2M",
            "99999999999999999999",
            "POINT(1 2)",
        ]
    ),
    st.sampled_from(
        [
            "xsd:double",
            "xsd:float",
            "xsd:integer",
            "xsd:decimal",
            "xsd:int",
            "xsd:byte",
            "xsd:nonNegativeInteger",
            "xsd:dateTime",
            "xsd:date",
            "xsd:time",
            "xsd:boolean",
            "xsd:duration",
            "xsd:string",
            "rdf:langString",
            "ex:custom",
            "geo:wktLiteral",
            "geo:geoJSONLiteral",
        ]
    ),
).map(lambda t: f'"{t[0]}"^^{t[1]}')
_coordinate = st.one_of(
    st.integers(-200, 200).map(str),
    st.floats(allow_nan=False, allow_infinity=False, width=32).map(repr),
    st.sampled_from(["NaN", "inf", "1e308", "1e309", "-1", "-90", "180.0000001"]),
)
_wkt_body = st.one_of(
    st.sampled_from(WKT_BODIES),
    st.tuples(_coordinate, _coordinate).map(lambda c: f"POINT({c[0]} {c[1]})"),
    st.tuples(_coordinate, _coordinate).map(lambda c: f"POLYGON((0 0, {c[0]} 0, {c[0]} {c[1]}, 0 {c[1]}, 0 0))"),
)
_wkt = st.one_of(
    _wkt_body.map(lambda b: f'"{b}"^^geo:wktLiteral'),
    st.sampled_from(
        [
            '"{\\"type\\": \\"Point\\", \\"coordinates\\": [1, 2]}"^^geo:geoJSONLiteral',
            '"{\\"type\\": \\"Point\\"}"^^geo:geoJSONLiteral',
            '"<gml:Point/>"^^geo:gmlLiteral',
            '"POINT(1 2)"',
        ]
    ),
)
_number = st.one_of(_integer, _decimal, _double, st.sampled_from(NUMBERS).map(lambda n: f'"{n}"^^xsd:double'))
_literal = st.one_of(_string(), _integer, _decimal, _double, _typed, st.sampled_from(["true", "false"]), _wkt)
_var = st.sampled_from(VARS)
_iri = st.sampled_from(IRIS)
_term = st.one_of(_var, _iri, _literal)

BINARY = ["+", "-", "*", "/", "=", "!=", "<", ">", "<=", ">=", "&&", "||"]
# name -> (fewest, most arguments)
BUILTINS: dict[str, tuple[int, int]] = {
    "STR": (1, 1),
    "LANG": (1, 1),
    "LANGMATCHES": (2, 2),
    "DATATYPE": (1, 1),
    "IRI": (1, 1),
    "URI": (1, 1),
    "BNODE": (0, 1),
    "RAND": (0, 0),
    "ABS": (1, 1),
    "CEIL": (1, 1),
    "FLOOR": (1, 1),
    "ROUND": (1, 1),
    "CONCAT": (0, 4),
    "STRLEN": (1, 1),
    "SUBSTR": (2, 3),
    "UCASE": (1, 1),
    "LCASE": (1, 1),
    "ENCODE_FOR_URI": (1, 1),
    "CONTAINS": (2, 2),
    "STRSTARTS": (2, 2),
    "STRENDS": (2, 2),
    "STRBEFORE": (2, 2),
    "STRAFTER": (2, 2),
    "YEAR": (1, 1),
    "MONTH": (1, 1),
    "DAY": (1, 1),
    "HOURS": (1, 1),
    "MINUTES": (1, 1),
    "SECONDS": (1, 1),
    "TIMEZONE": (1, 1),
    "TZ": (1, 1),
    "NOW": (0, 0),
    "UUID": (0, 0),
    "STRUUID": (0, 0),
    "MD5": (1, 1),
    "SHA1": (1, 1),
    "SHA256": (1, 1),
    "SHA512": (1, 1),
    "COALESCE": (0, 3),
    "IF": (3, 3),
    "STRLANG": (2, 2),
    "STRDT": (2, 2),
    "sameTerm": (2, 2),
    "isIRI": (1, 1),
    "isBlank": (1, 1),
    "isLiteral": (1, 1),
    "isNumeric": (1, 1),
    "xsd:integer": (1, 1),
    "xsd:double": (1, 1),
    "xsd:decimal": (1, 1),
    "xsd:boolean": (1, 1),
    "xsd:string": (1, 1),
    "xsd:dateTime": (1, 1),
    "xsd:float": (1, 1),
    "ex:unknownFunction": (0, 2),
}
GEO = {iri.rsplit("/", 1)[1]: spec for iri, spec in FUNCTIONS.items() if not spec.is_property}
GEO_PROPERTIES = sorted("geo:" + iri.rsplit("#", 1)[1] for iri, spec in FUNCTIONS.items() if spec.is_property)
_regex_pattern = st.one_of(
    st.text(alphabet="ab.*+?()[]{}|^$\\dws-,0123", max_size=8).map(_escape),
    st.sampled_from(["(unclosed", "[b", "a{2,1}", "(?P<x>a)", "\\\\p{L}", "(a*)*b", "^.*$", "", "\\\\"]),
)
_flags = st.sampled_from(["", "i", "s", "m", "x", "q", "imsx", "z", "ii"])


def _call(name: str, args: list[str]) -> str:
    return f"{name}({', '.join(args)})"


def _geo_call(expressions: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    geometry = st.one_of(_wkt, _wkt, _var, expressions)
    by_kind: dict[ArgKind, st.SearchStrategy[str]] = {
        ArgKind.GEOMETRY: geometry,
        ArgKind.NUMBER: st.one_of(_number, _var),
        ArgKind.INTEGER: st.one_of(_integer, _var),
        ArgKind.UNITS: st.sampled_from(UNITS),
        ArgKind.PATTERN: st.one_of(
            st.text(alphabet="TF*012x", max_size=10).map(lambda p: f'"{p}"'), st.just('"T*F**FFF*"'), _var
        ),
    }

    @st.composite
    def call(draw: st.DrawFn) -> str:
        name = draw(st.sampled_from(sorted(GEO)))
        args = [draw(by_kind[kind]) for kind in GEO[name].args]
        arity = draw(st.integers(0, 9))  # now and then one argument too many or too few
        if arity == 0 and args:
            args.pop()
        elif arity == 1:
            args.append(draw(_term))
        return _call(f"geof:{name}", args)

    return call()


def _expressions(depth: int) -> st.SearchStrategy[str]:
    """Expressions without aggregates; ``EXISTS`` groups nested ``depth`` deep at most."""

    def extend(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        builtin = st.sampled_from(sorted(BUILTINS)).flatmap(
            lambda name: st.lists(children, min_size=BUILTINS[name][0], max_size=BUILTINS[name][1]).map(
                lambda args: _call(name, args)
            )
        )
        options = [
            st.tuples(children, st.sampled_from(BINARY), children).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            st.tuples(st.sampled_from(["!", "-", "+"]), children).map(lambda t: f"{t[0]}({t[1]})"),
            builtin,
            builtin,
            _var.map(lambda v: f"BOUND({v})"),
            st.tuples(children, _regex_pattern, st.one_of(st.none(), _flags)).map(
                lambda t: _call("REGEX", [t[0], f'"{t[1]}"'] + ([f'"{t[2]}"'] if t[2] is not None else []))
            ),
            st.tuples(children, _regex_pattern, _string(), st.one_of(st.none(), _flags)).map(
                lambda t: _call("REPLACE", [t[0], f'"{t[1]}"', t[2]] + ([f'"{t[3]}"'] if t[3] is not None else []))
            ),
            st.tuples(children, st.sampled_from(["IN", "NOT IN"]), st.lists(children, max_size=4)).map(
                lambda t: f"({t[0]} {t[1]} ({', '.join(t[2])}))"
            ),
            _geo_call(children),
            _geo_call(children),
        ]
        if depth > 0:
            options.append(
                st.tuples(st.sampled_from(["EXISTS", "NOT EXISTS"]), _group(depth - 1)).map(lambda t: f"{t[0]} {t[1]}")
            )
        return st.one_of(options)

    return st.recursive(_term, extend, max_leaves=5)


def _aggregate(expressions: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    distinct = st.sampled_from(["", "DISTINCT "])
    return st.one_of(
        st.just("COUNT(*)"),
        st.tuples(st.sampled_from(["COUNT", "SUM", "AVG", "MIN", "MAX", "SAMPLE"]), distinct, expressions).map(
            lambda t: f"{t[0]}({t[1]}{t[2]})"
        ),
        st.tuples(distinct, expressions, st.one_of(st.none(), _string_body)).map(
            lambda t: f"GROUP_CONCAT({t[0]}{t[1]}" + (f'; SEPARATOR="{t[2]}")' if t[2] is not None else ")")
        ),
    )


def _path() -> st.SearchStrategy[str]:
    base = st.one_of(
        st.sampled_from(PREDICATES),
        st.sampled_from(["!ex:p", "!(ex:p|^ex:knows)", "!^ex:name", "!a"]),
    )

    def extend(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            children.map(lambda p: f"^({p})" if p.startswith("^") else f"^{p}"),
            st.tuples(children, st.sampled_from(["/", "|"]), children).map(lambda t: f"({t[0]}{t[1]}{t[2]})"),
            st.tuples(children, st.sampled_from(["*", "+", "?"])).map(lambda t: f"({t[0]}){t[1]}"),
        )

    return st.recursive(base, extend, max_leaves=3)


_subject = st.one_of(_var, _var, _iri, st.sampled_from(["_:b1", "[]", "[ ex:p ?o ]"]))
# topology relations as triples are rare: each rewrites into a union over every way a geometry is stated (some
# 200 kB of SQL for "?a geo:sfContains ?b", about a second to translate; three take past the translation limit)
_predicate = st.one_of(
    st.sampled_from(PREDICATES),
    _var,
    _path(),
    st.sampled_from([*PREDICATES, *(p for p in GEO_PROPERTIES if not re.match(r"geo:(sf|eh|rcc8)", p))]),
    st.sampled_from([*PREDICATES, *PREDICATES, "geo:sfIntersects", "geo:ehMeet", "geo:rcc8ec"]),
)
_object = st.one_of(_var, _var, _iri, _literal, st.just("[ ex:knows ?x ]"))
_triple = st.tuples(_subject, _predicate, _object).map(" ".join)
_triples = st.lists(_triple, min_size=1, max_size=3).map(lambda ts: " . ".join(ts) + " .")
# a CONSTRUCT template's triples: no property paths
_template = st.lists(
    st.tuples(_subject, st.one_of(_var, st.sampled_from(PREDICATES)), _object).map(" ".join), max_size=3
).map(" . ".join)
_values_term = st.one_of(_iri, _literal, st.just("UNDEF"))


@st.composite
def _values(draw: st.DrawFn) -> str:
    empty = draw(st.integers(0, 9)) == 0  # now and then no variables, or no rows
    names = draw(st.lists(_var, min_size=0 if empty else 1, max_size=2, unique=True))
    row = st.lists(_values_term, min_size=len(names), max_size=len(names))
    rows = draw(st.lists(row, min_size=0 if empty else 1, max_size=3))
    if len(names) == 1 and draw(st.booleans()):
        return f"VALUES {names[0]} {{ {' '.join(r[0] for r in rows)} }}"
    return f"VALUES ({' '.join(names)}) {{ {' '.join('(' + ' '.join(r) + ')' for r in rows)} }}"


@cache
def _group(depth: int) -> st.SearchStrategy[str]:
    """A group graph pattern ``{ ... }`` nested ``depth`` deep at most."""
    expressions = _expressions(depth)
    elements = [
        _triples,
        _triples,
        expressions.map(lambda e: f"FILTER({e})"),
        st.tuples(expressions, _var).map(lambda t: f"BIND({t[0]} AS {t[1]})"),
        _values(),
    ]
    if depth > 0:
        inner = st.deferred(lambda: _group(depth - 1))
        elements += [
            inner.map(lambda g: f"OPTIONAL {g}"),
            st.lists(inner, min_size=2, max_size=3).map(" UNION ".join),
            inner.map(lambda g: f"MINUS {g}"),
            st.tuples(st.sampled_from(["?g", "<http://ex/graph>", "ex:zz"]), inner).map(
                lambda t: f"GRAPH {t[0]} {t[1]}"
            ),
            inner,
            st.deferred(lambda: _select(depth - 1)).map(lambda q: f"{{ {q} }}"),
            # federation: never followed (no request leaves the server), refused or failed as a query
            st.tuples(st.sampled_from(SERVICES), inner).map(lambda t: f"SERVICE {t[0]} {t[1]}"),
        ]
    return st.lists(st.one_of(elements), max_size=3).map(lambda xs: "{ " + " ".join(xs) + " }")


SERVICES = ["<http://127.0.0.1:1/sparql>", "SILENT <http://169.254.169.254/>", "?g", "<file:///etc/passwd>"]
_count = st.one_of(
    st.integers(0, 20).map(str),
    st.sampled_from(["9223372036854775807", "9223372036854775808", "99999999999999999999", "1000000"]),
)


def _modifiers(expressions: st.SearchStrategy[str], grouped: bool) -> st.SearchStrategy[str]:
    key = st.one_of(_var, expressions.map(lambda e: f"ASC({e})"), expressions.map(lambda e: f"DESC({e})"))
    if grouped:
        key = st.one_of(key, _aggregate(expressions).map(lambda a: f"DESC({a})"))
    return st.tuples(
        st.one_of(st.none(), st.lists(key, min_size=1, max_size=2)),
        st.one_of(st.none(), _count),
        st.one_of(st.none(), _count),
    ).map(
        lambda t: (
            (f" ORDER BY {' '.join(t[0])}" if t[0] else "")
            + (f" LIMIT {t[1]}" if t[1] is not None else "")
            + (f" OFFSET {t[2]}" if t[2] is not None else "")
        )
    )


@cache
def _select(depth: int) -> st.SearchStrategy[str]:
    expressions = _expressions(depth)

    @st.composite
    def select(draw: st.DrawFn) -> str:
        where = draw(_group(depth))
        grouped = draw(st.integers(0, 3)) == 0
        modifier = draw(st.sampled_from(["", "DISTINCT ", "REDUCED "]))
        projection: list[str] = []
        tail = ""
        if grouped:
            keys = draw(
                st.lists(
                    st.one_of(_var, expressions.map(lambda e: f"({e})"), expressions.map(lambda e: f"({e} AS ?k)"))
                )
            )
            projection = [k for k in keys if k in VARS]
            aggregates = draw(st.lists(_aggregate(expressions), min_size=1, max_size=3))
            projection += [f"({a} AS ?a{i})" for i, a in enumerate(aggregates)]
            tail = f" GROUP BY {' '.join(keys)}" if keys else ""
            having = draw(st.one_of(st.none(), _aggregate(expressions)))
            if having is not None:
                tail += f" HAVING ({having} {draw(st.sampled_from(['>', '=', '!=']))} {draw(_term)})"
        elif draw(st.integers(0, 2)):
            projection = draw(st.lists(_var, min_size=1, max_size=3, unique=True))
            projection += [f"({e} AS ?e{i})" for i, e in enumerate(draw(st.lists(expressions, max_size=2)))]
        projected = " ".join(projection) or "*"
        return f"SELECT {modifier}{projected} WHERE {where}{tail}{draw(_modifiers(expressions, grouped))}"

    return select()


INSERTED = [*"{}()<>\"'?.;,\\#@^|!*+ \x00", "\ud800", "é"]  # a lone surrogate: only a direct POST carries it


@st.composite
def _query(draw: st.DrawFn) -> str:
    form = draw(
        st.sampled_from(
            ["SELECT", "SELECT", "SELECT", "ASK", "CONSTRUCT", "CONSTRUCT WHERE", "DESCRIBE"] * 3 + ["UPDATE"]
        )
    )
    depth = draw(st.integers(0, 2))
    dataset = draw(st.sampled_from(["", "", "", "FROM <http://ex/graph> ", "FROM NAMED <http://ex/graph> "]))
    if form == "SELECT":
        body = draw(_select(depth))
        if dataset:
            body = body.replace(" WHERE ", f" {dataset}WHERE ", 1)
    elif form == "ASK":
        body = f"ASK {dataset}{draw(_group(depth))}"
    elif form == "CONSTRUCT":
        template = draw(_template)
        body = f"CONSTRUCT {{ {template} }} {dataset}WHERE {draw(_group(depth))}"
        body += draw(_modifiers(_expressions(0), False))
    elif form == "CONSTRUCT WHERE":
        body = f"CONSTRUCT {dataset}WHERE {{ {draw(_template.filter(bool))} }}" + draw(
            _modifiers(_expressions(0), False)
        )
    elif form == "UPDATE":  # SPARQL Update sent as a query: refused, and nothing is written
        body = draw(
            st.sampled_from(
                [
                    "INSERT DATA { ex:a ex:p 99 }",
                    "DELETE WHERE { ?s ?p ?o }",
                    "DROP ALL",
                    "CLEAR DEFAULT",
                    "LOAD <http://127.0.0.1:1/data.ttl>",
                    "DELETE { ?s ?p ?o } INSERT { ?s ?p 0 } WHERE { ?s ?p ?o }",
                    "SELECT * WHERE { ?s ?p ?o } ; DROP ALL",
                ]
            )
        )
    else:
        targets = draw(st.lists(st.one_of(_var, _iri), min_size=1, max_size=2))
        where = draw(st.one_of(st.just(""), _group(depth).map(lambda g: f" {dataset}WHERE {g}")))
        body = f"DESCRIBE {' '.join(targets)}{where}"
    text = draw(st.sampled_from(["", "", "", "BASE <http://ex/base/> ", "# a comment\n"])) + PREFIXES + body
    mutation = draw(st.integers(0, 11))  # one in six: a character deleted or inserted
    if mutation < 2:
        at = draw(st.integers(0, len(text) - 1 if draw(st.integers(0, 3)) == 0 else len(body) - 1))
        at = len(text) - 1 - at  # counted from the end: mostly in the query, after the prologue
        if mutation == 0:
            text = text[:at] + text[at + 1 :]
        else:
            text = text[:at] + draw(st.sampled_from(INSERTED)) + text[at:]
    return text


ACCEPT = [
    None,
    None,
    None,
    "application/sparql-results+json",
    "application/sparql-results+xml",
    "text/csv",
    "text/tab-separated-values",
    "text/turtle",
    "application/n-triples",
    "*/*",
    "application/json",
]


@st.composite
def _request(draw: st.DrawFn) -> tuple[str, str, dict[str, Any], str]:
    """A query, and the request that carries it: method, path, the test client's arguments, the query's text."""
    text = draw(_query())
    how = draw(st.sampled_from(["get", "direct", "form"] * 3 + ["explain", "update"]))
    accept = draw(st.sampled_from(ACCEPT))
    headers = {"Accept": accept} if accept else {}
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: only a direct POST can carry the bytes
        how = "direct"
    if how in ("get", "explain"):
        return (
            "GET",
            "/sparql" if how == "get" else "/sparql/explain",
            {"params": {"query": text}, "headers": headers},
            text,
        )
    if how in ("form", "update"):  # (update=: SPARQL Update, refused)
        return "POST", "/sparql", {"data": {"query" if how == "form" else "update": text}, "headers": headers}, text
    headers["Content-Type"] = "application/sparql-query"
    return "POST", "/sparql", {"content": text.encode("utf-8", "surrogatepass"), "headers": headers}, text


def test_generated_queries_get_no_server_error(endpoint: Endpoint) -> None:
    started, quads = endpoint.incarnation(), endpoint.quads()
    clock = time.monotonic()
    endpoint.statuses.clear()
    endpoint.known.clear()
    endpoint.slowest.clear()

    @settings(
        max_examples=QUERY_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
    )
    @given(_request())
    def fuzz(request: tuple[str, str, dict[str, Any], str]) -> None:
        method, path, kw, text = request
        response = endpoint.request(method, path, **kw)
        what = f"{method} {path} {kw.get('headers')}:\n{text}"
        endpoint.check(response.status_code, response.headers.get("content-type", ""), response.content, what, text)

    fuzz()
    _summary(endpoint, clock, "SPARQL grammar")
    answered = sum(v for k, v in endpoint.statuses.items() if k == "200")
    # the grammar keeps producing queries the engine answers (not only syntax errors): some 25 % of them
    assert answered >= QUERY_EXAMPLES // 6, endpoint.statuses
    assert endpoint.request("GET", "/sparql", params={"query": "ASK {}"}).status_code == 200  # still serving
    assert endpoint.incarnation() == started, "the database restarted"
    assert endpoint.quads() == quads, "a query wrote to the database"


# -- Schemathesis over the OpenAPI document ----------------------------------------------------------------------

_SAMPLE_QUERIES = [
    "SELECT * WHERE { ?s ?p ?o } LIMIT 3",
    "ASK { ?s ?p ?o }",
    "CONSTRUCT WHERE { ?s ex:name ?o }",
    "DESCRIBE ex:a",
    "SELECT (geof:buffer(?w, 1e308, uom:metre) AS ?b) WHERE { ?g geo:asWKT ?w }",
    'SELECT (REGEX("a", "(") AS ?r) WHERE {}',
]
# a query: one of these (answered, mostly) or any string (a syntax error, mostly)
_QUERY_SCHEMA = {"anyOf": [{"enum": [PREFIXES + q for q in _SAMPLE_QUERIES]}, {"type": "string"}]}
# the Accept header, which OpenAPI leaves out of an operation's parameters, fuzzed as one
_ACCEPT = {
    "name": "Accept",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "enum": [a for a in ACCEPT if a] + ["text/html", "image/png"]},
}


def _declared(schema: dict[str, Any]) -> dict[str, Any]:
    """The served document with the sample queries offered for ``query`` (else Schemathesis sends random text, a
    syntax error nearly always) and the Accept header as a parameter; checks on the way that the document
    declares the protocol's parameters and POST bodies, with unique operation ids."""
    schema = copy.deepcopy(schema)
    ids = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            ids.append(operation["operationId"])
            names = {p["name"] for p in operation.get("parameters", [])}
            if path in ("/sparql", "/sparql/explain"):
                assert "query" in names, (method, path)
                if method == "post":
                    media = operation["requestBody"]["content"]
                    assert {"application/sparql-query", "application/x-www-form-urlencoded"} <= media.keys()
                    media["application/sparql-query"]["schema"] = _QUERY_SCHEMA
                    media["application/x-www-form-urlencoded"]["schema"]["properties"]["query"] = _QUERY_SCHEMA
            expected = {"400", "503"} if path.startswith("/sparql") else {"503"}
            assert expected <= operation["responses"].keys() or path == "/sparql/description", (method, path)
            for parameter in operation.get("parameters", []):
                if parameter["name"] == "query":
                    parameter["schema"] = _QUERY_SCHEMA
            operation["parameters"] = [*operation.get("parameters", []), copy.deepcopy(_ACCEPT)]
    assert len(ids) == len(set(ids)), ids
    return schema


def _operations(schema: Any) -> list[Any]:
    return [result.ok() for result in schema.get_all_operations()]


def _cases(schema: Any, negative: bool) -> list[tuple[str, st.SearchStrategy[Any]]]:
    """Each operation's cases: valid ones, and (``negative``) ones that break the schema."""
    import schemathesis

    modes = [schemathesis.GenerationMode.POSITIVE] + [schemathesis.GenerationMode.NEGATIVE] * negative
    out = []
    for operation in _operations(schema):
        for mode in modes:
            out.append((f"{operation.label} {mode.value}", operation.as_strategy(generation_mode=mode)))
    return out


def _reraising_nothing(app: Any) -> Any:
    """``app`` without Starlette's re-raise of an unhandled error once its 500 response is sent (Schemathesis'
    ASGI client would raise it instead of returning the response the check is about)."""

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        started = False

        async def sending(message: Any) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await app(scope, receive, sending)
        except Exception:
            if not started:
                raise

    return wrapped


def test_openapi_operations_get_no_server_error(endpoint: Endpoint) -> None:
    import requests
    import schemathesis
    from schemathesis.checks import not_a_server_error

    started, quads = endpoint.incarnation(), endpoint.quads()
    clock = time.monotonic()
    endpoint.statuses.clear()
    endpoint.known.clear()
    endpoint.slowest.clear()
    # an app of its own: Schemathesis runs it (and its lifespan, once) on its own event loop
    app = create_app(endpoint.client.app.state.settings, engine=endpoint.engine)  # type: ignore[attr-defined]
    served = schemathesis.openapi.from_asgi("/openapi.json", app)
    assert {operation.label for operation in _operations(served)} == {
        "GET /sparql",
        "POST /sparql",
        "GET /sparql/description",
        "GET /sparql/explain",
        "POST /sparql/explain",
        "GET /stac",
        "GET /stac/collections/{name}",
    }
    declared = schemathesis.openapi.from_dict(_declared(served.raw_schema))
    target = _reraising_nothing(app)
    schemathesis.serializer.alias("application/sparql-query", "text/plain")

    def server_error_but_503_timeout_or_busy(ctx: Any, response: Any, case: Any) -> bool | None:
        if response.status_code == 503:
            try:
                if json.loads(response.content).get("error") in ALLOWED_503:
                    return None
            except ValueError:
                pass
        return not_a_server_error(ctx, response, case)

    def run(label: str, strategy: st.SearchStrategy[Any]) -> None:
        @settings(
            max_examples=SCHEMA_EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(strategy)
        def fuzz(case: Any) -> None:
            what = f"{label}: {case.as_curl_command()}"
            start = time.monotonic()
            try:
                response = case.call(app=target, timeout=HANG_S)
            except requests.exceptions.ReadTimeout:
                pytest.fail(f"hang: no answer in {HANG_S:g} s to {what}")
            endpoint.timed(time.monotonic() - start, what)
            media = (response.headers.get("content-type") or [""])[0]
            endpoint.check(response.status_code, media, response.content, what)
            try:
                case.validate_response(response, checks=[server_error_but_503_timeout_or_busy])
            except AssertionError as err:
                pytest.fail(f"{what}\n{err}")

        fuzz()

    # (the served document declares nothing a request could get wrong: no negative cases)
    for label, strategy in _cases(served, negative=False) + _cases(declared, negative=True):
        run(label, strategy)
    _summary(endpoint, clock, "OpenAPI")
    assert endpoint.request("GET", "/sparql", params={"query": "ASK {}"}).status_code == 200
    assert endpoint.incarnation() == started, "the database restarted"
    assert endpoint.quads() == quads, "a request wrote to the database"
