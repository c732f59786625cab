"""RDF files into the quad table: every format round-tripped through PostGIS, idempotent reloads, named graphs,
errors that write nothing, and the ``esdl semantic load-rdf`` command (the term columns: test_rdf_terms.py)."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import rdflib
import sqlalchemy as sa
from rdflib import Dataset, Graph, Literal, URIRef
from rdflib.compare import isomorphic
from rdflib.graph import DATASET_DEFAULT_GRAPH_ID

from esdl_testing.cli import run_esdl
from esdl_testing.vocab import CRS84, EPSG, xsd
from esdl_testing.vocab import RDF_EX as EX
from semantic.errors import SemanticError
from semantic.rdf.load import RdfError, load_rdf, read_rdf, resolve_format
from semantic.rdf.terms import (
    BLANK,
    to_term,
)
from semantic.store.db import make_engine

PREFIXES = """\
@prefix ex: <http://example.org/> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix geo: <http://www.opengis.net/ont/geosparql#> .
"""
# lexical forms that rdflib would normalise ("007", "12.50", "1.5E0"), an ill-typed one, language tags, blank
# nodes (nested, in a cycle, in a list), a long literal (past a btree entry), a custom datatype, non-ASCII text
TRIPLES = (
    PREFIXES
    + """
ex:station1 a ex:Station ;
    rdfs:label "Station one"@en , "Station eins"@de , "plain" , "Zürich ☃" ;
    ex:count "007"^^xsd:integer ; ex:depth "12.50"^^xsd:decimal ; ex:ratio "1.5E0"^^xsd:double ;
    ex:bad "abc"^^xsd:integer ; ex:since "2001-05-06"^^xsd:date ; ex:at "2020-01-02T03:04:05"^^xsd:dateTime ;
    ex:flag true ; ex:custom "x"^^<http://example.org/dt> ;
    ex:note \"\"\"two
lines, "quoted\"\"\" ;
    ex:long "%s" ;
    ex:geom "POINT(13.4 52.5)"^^geo:wktLiteral ;
    ex:owner [ ex:name "Anon" ; ex:knows [ ex:name "Other" ] ] ;
    ex:path ( ex:a ex:b [ ex:c 1 ] ) .
_:loop1 ex:next _:loop2 .
_:loop2 ex:next _:loop1 .
"""
    % ("long " * 2000)
)
QUADS = (
    PREFIXES
    + """
ex:a ex:p ex:b ; ex:n "1"^^xsd:integer .
ex:g1 { ex:a ex:p _:x . _:x ex:name "in g1"@en ; ex:at "2020-01-01T00:00:00Z"^^xsd:dateTime . }
ex:g2 { ex:a ex:p ex:c . ex:c ex:geom "POINT(1 2)"^^geo:wktLiteral . }
"""
)
TRIPLE_FORMATS = {"turtle": ".ttl", "xml": ".rdf", "nt": ".nt", "json-ld": ".jsonld"}
QUAD_FORMATS = {"trig": ".trig", "nquads": ".nq", "json-ld": ".jsonld"}


@pytest.fixture(autouse=True)
def literals_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    """rdflib's own parses (the references) keep lexical forms as written, as the loader does."""
    monkeypatch.setattr(rdflib, "NORMALIZE_LITERALS", False)


@pytest.fixture
def engine(catalog_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(catalog_url)
    yield engine
    engine.dispose()


def write_serialised(tmp_path: Path, text: str, fmt: str, suffix: str, quads: bool) -> Path:
    """``text`` (Turtle or TriG) written in ``fmt`` by rdflib's serialiser."""
    data = Dataset()
    data.parse(data=text, format="trig" if quads else "turtle")
    path = tmp_path / f"data{suffix}"
    if quads:
        data.serialize(path, format=fmt)
    else:
        data.default_graph.serialize(path, format=fmt)
    return path


def count(engine: sa.Engine, graph: str | None = None) -> int:
    """Quads stored (in ``graph`` if given)."""
    query = sa.text("SELECT count(*) FROM rdf_quad WHERE CAST(:graph AS text) IS NULL OR graph = :graph")
    with engine.connect() as conn:
        return int(conn.execute(query, {"graph": graph}).scalar_one())


def read_back(engine: sa.Engine) -> dict[str, Graph]:
    """The stored quads as one rdflib graph per graph name, terms rebuilt by :func:`to_term`."""
    graphs: dict[str, Graph] = {}
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT graph, s_kind, s, p, o_kind, o, o_dt, o_lang FROM rdf_quad")).all()
    for g, s_kind, s, p, o_kind, o, o_dt, o_lang in rows:
        graphs.setdefault(g, Graph()).add((to_term(s_kind, s), URIRef(p), to_term(o_kind, o, o_dt, o_lang)))
    return graphs


def canonical(graph: Graph) -> Graph:
    """RDF 1.1 term identity: ``"x"^^xsd:string`` is ``"x"``, language tags are case-insensitive."""
    out = Graph()
    for s, p, o in graph:
        if isinstance(o, Literal):
            if o.language:
                o = Literal(str(o), lang=o.language.lower())
            elif o.datatype == xsd("string"):
                o = Literal(str(o))
        out.add((s, p, o))
    return out


def reference(path: Path, fmt: str) -> dict[str, Graph]:
    """rdflib's own parse of ``path``, one graph per name (``''``: the default graph)."""
    data = Dataset()
    data.parse(path, format=fmt)
    graphs = {}
    for g in data.graphs():
        if len(g):
            graphs["" if g.identifier == DATASET_DEFAULT_GRAPH_ID else str(g.identifier)] = g
    return graphs


def assert_same_graphs(got: dict[str, Graph], want: dict[str, Graph]) -> None:
    assert sorted(got) == sorted(want)
    for name, graph in want.items():
        assert len(got[name]) == len(graph), name
        assert isomorphic(canonical(got[name]), canonical(graph)), name


# parsing -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,fmt",
    [("a.ttl", "turtle"), ("a.TTL", "turtle"), ("a.nt.gz", "nt"), ("a.owl", "xml"), ("a.jsonld", "json-ld")],
)
def test_formats_are_guessed_from_the_suffix(name: str, fmt: str) -> None:
    assert resolve_format(name) == fmt
    assert resolve_format("whatever.txt", "N-Quads") == "nquads"


def test_unknown_formats_and_bad_graph_names_are_errors(tmp_path: Path) -> None:
    (path := tmp_path / "a.txt").write_text("")
    with pytest.raises(RdfError, match="cannot tell the RDF format"):
        read_rdf(path)
    with pytest.raises(RdfError, match="unknown RDF format 'n3'"):
        read_rdf(path, fmt="n3")
    for graph in ("not an iri", "relative/path", "http://example.org/a b", "<http://example.org/g>"):
        with pytest.raises(RdfError, match="not an absolute IRI"):
            read_rdf(path, graph=graph, fmt="nt")
    with pytest.raises(RdfError, match="no such file"):
        read_rdf(tmp_path / "missing.ttl")
    assert issubclass(RdfError, SemanticError)


@pytest.mark.parametrize(
    "suffix,text,line",
    [
        (".ttl", PREFIXES + 'ex:a ex:p ex:b .\nex:a ex:p "open .\n', 6),
        (".trig", PREFIXES + "ex:g { ex:a ex:p ex:b .\n", 6),
        (".nt", "<http://e/a> <http://e/p> <http://e/b> .\n# comment\n\n<http://e/a> <http://e/p> oops .\n", 4),
        (".nq", "<http://e/a> <http://e/p> <http://e/b> <http://e/g> .\n<http://e/a> <http://e/p> <http://e/b> x\n", 2),
        (".rdf", '<?xml version="1.0"?>\n<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n<a>\n', 4),
        (".jsonld", '{"@id": "http://e/a",\n "http://e/p": \n}\n', 3),
    ],
)
def test_syntax_errors_name_the_file_and_line(tmp_path: Path, suffix: str, text: str, line: int) -> None:
    path = tmp_path / f"broken{suffix}"
    path.write_text(text)
    with pytest.raises(RdfError) as err:
        read_rdf(path)
    assert str(err.value).startswith(f"{path}: line {line}: ")
    assert "\n" not in str(err.value)


def test_blank_node_labels_depend_on_source_and_content_only(tmp_path: Path) -> None:
    path = tmp_path / "a.ttl"
    path.write_text(TRIPLES)
    first, again = read_rdf(path), read_rdf(path)
    assert first.rows == again.rows  # rdflib's own blank node ids are random on every parse
    other = read_rdf(path, source="other")
    blank = {r[2] for r in first.rows if r[1] == BLANK}
    assert blank and not blank & {r[2] for r in other.rows if r[1] == BLANK}
    path.write_text(TRIPLES + "ex:x ex:y ex:z .\n")
    assert not blank & {r[2] for r in read_rdf(path).rows if r[1] == BLANK}


# loading -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt,suffix", TRIPLE_FORMATS.items())
def test_triple_formats_round_trip(tmp_path: Path, engine: sa.Engine, fmt: str, suffix: str) -> None:
    path = write_serialised(tmp_path, TRIPLES, fmt, suffix, quads=False)
    with engine.begin() as conn:
        result = load_rdf(conn, path)
    assert result.format == fmt and result.graphs == 1
    assert result.inserted == result.quads == count(engine) == len(Graph().parse(path, format=fmt))
    assert result.ill_typed == 1  # "abc"^^xsd:integer, kept as written
    assert_same_graphs(read_back(engine), reference(path, fmt))


@pytest.mark.parametrize("fmt,suffix", QUAD_FORMATS.items())
def test_quad_formats_keep_their_graphs(tmp_path: Path, engine: sa.Engine, fmt: str, suffix: str) -> None:
    path = write_serialised(tmp_path, QUADS, fmt, suffix, quads=True)
    with engine.begin() as conn:
        result = load_rdf(conn, path)
    assert result.graphs == 3 and result.inserted == count(engine) == 7
    got = read_back(engine)
    assert sorted(got) == ["", EX + "g1", EX + "g2"]
    assert_same_graphs(got, reference(path, fmt))


def test_the_graph_option_names_the_default_graph(tmp_path: Path, engine: sa.Engine) -> None:
    nt = write_serialised(tmp_path, TRIPLES, "nt", ".nt", quads=False)
    trig = tmp_path / "data.trig"
    trig.write_text(QUADS + "_:g3 { ex:d ex:p ex:e . }\n")
    with engine.begin() as conn:
        load_rdf(conn, nt, graph=EX + "stations")
        load_rdf(conn, trig, graph=EX + "main")
    with engine.connect() as conn:
        graphs: dict[str, int] = dict(
            conn.execute(sa.text("SELECT graph, count(*) FROM rdf_quad GROUP BY graph")).tuples().all()
        )
    blank = [g for g in graphs if g.startswith("_:")]  # a blank node graph name, scoped like any blank node
    assert len(blank) == 1 and graphs.pop(blank[0]) == 1
    assert graphs == {EX + "stations": len(Graph().parse(nt)), EX + "main": 2, EX + "g1": 3, EX + "g2": 2}


def test_typed_columns_are_filled(tmp_path: Path, engine: sa.Engine) -> None:
    path = tmp_path / "typed.ttl"
    geojson = '"{\\"type\\": \\"Point\\", \\"coordinates\\": [13.4, 52.5]}"^^geo:geoJSONLiteral'
    path.write_text(
        PREFIXES
        + f"""
ex:crs84 ex:geom "POINT(13.4 52.5)"^^geo:wktLiteral .
ex:crs84iri ex:geom "{CRS84} POINT(13.4 52.5)"^^geo:wktLiteral .
ex:epsg4326 ex:geom "{EPSG.format(4326)} POINT(52.5 13.4)"^^geo:wktLiteral .
ex:geojson ex:geom {geojson} .
ex:box ex:geom "{EPSG.format(4326)} POLYGON((50 10, 50 11, 51 11, 51 10, 50 10))"^^geo:wktLiteral .
ex:bowtie ex:geom "POLYGON((0 0, 1 1, 1 0, 0 1, 0 0))"^^geo:wktLiteral .
ex:broken ex:geom "POINT(1"^^geo:wktLiteral .
ex:a ex:n "007"^^xsd:integer , "12.50"^^xsd:decimal , "1.5E0"^^xsd:double , "INF"^^xsd:double ,
    "abc"^^xsd:integer , "300"^^xsd:byte , "12"@en .
ex:a ex:t "2020-01-02T03:04:05"^^xsd:dateTime , "2020-01-02T03:04:05+02:00"^^xsd:dateTime ,
    "2001-05-06"^^xsd:date , "someday"^^xsd:date .
"""
    )
    with engine.begin() as conn:
        result = load_rdf(conn, path)
    assert result.ill_typed == 5  # bowtie, broken, abc, 300, someday
    with engine.connect() as conn:
        geoms: dict[str, str | None] = dict(
            conn.execute(sa.text("SELECT s, ST_AsText(o_geom) FROM rdf_quad WHERE p = :p"), {"p": EX + "geom"})
            .tuples()
            .all()
        )
        assert {s.removeprefix(EX): v for s, v in geoms.items()} == {
            "crs84": "POINT(13.4 52.5)",
            "crs84iri": "POINT(13.4 52.5)",
            "epsg4326": "POINT(13.4 52.5)",
            "geojson": "POINT(13.4 52.5)",
            "box": "POLYGON((10 50,11 50,11 51,10 51,10 50))",
            "bowtie": None,
            "broken": None,
        }
        assert conn.execute(
            sa.text("SELECT DISTINCT ST_SRID(o_geom) FROM rdf_quad WHERE o_geom IS NOT NULL")
        ).all() == [(4326,)]
        nums: dict[str, Decimal | None] = dict(
            conn.execute(sa.text("SELECT o, o_num FROM rdf_quad WHERE p = :p"), {"p": EX + "n"}).tuples().all()
        )
        assert nums == {
            "007": Decimal(7),
            "12.50": Decimal("12.50"),
            "1.5E0": Decimal("1.5"),
            "INF": Decimal("Infinity"),
            "abc": None,
            "300": None,
            "12": None,
        }
        stamps: dict[str, dt.datetime | None] = dict(
            conn.execute(sa.text("SELECT o, o_ts FROM rdf_quad WHERE p = :p"), {"p": EX + "t"}).tuples().all()
        )
        assert stamps == {
            "2020-01-02T03:04:05": dt.datetime(2020, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
            "2020-01-02T03:04:05+02:00": dt.datetime(2020, 1, 2, 1, 4, 5, tzinfo=dt.UTC),
            "2001-05-06": dt.datetime(2001, 5, 6, tzinfo=dt.UTC),
            "someday": None,
        }
        within = conn.execute(
            sa.text("SELECT count(*) FROM rdf_quad WHERE ST_Intersects(o_geom, ST_MakeEnvelope(13, 52, 14, 53, 4326))")
        ).scalar_one()
        assert within == 4


def test_reloading_adds_nothing(tmp_path: Path, engine: sa.Engine) -> None:
    path = tmp_path / "a.ttl"
    path.write_text(TRIPLES)
    with engine.begin() as conn:
        first = load_rdf(conn, path)
    with engine.begin() as conn:
        again = load_rdf(conn, path)
    assert first.inserted == first.quads == count(engine) > 0
    assert (again.inserted, again.already_present) == (0, first.quads)
    with engine.begin() as conn:  # under another source the blank nodes are new ones; the rest is already there
        other = load_rdf(conn, path, source="elsewhere")
    with_blank = sum(1 for r in read_rdf(path).rows if BLANK in (r[1], r[4]))
    assert other.inserted == with_blank and count(engine) == first.quads + with_blank


def test_indexes_of_the_quad_table(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        defs: dict[str, str] = dict(
            conn.execute(sa.text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'rdf_quad'"))
            .tuples()
            .all()
        )
    assert "UNIQUE" in defs["uq_rdf_quad_quad"] and "md5(o)" in defs["uq_rdf_quad_quad"]
    assert "USING gist (o_geom)" in defs["ix_rdf_quad_o_geom"]
    assert "WHERE (o_num IS NOT NULL)" in defs["ix_rdf_quad_p_o_num"]
    assert "(s, p, md5(o), graph, s_kind, o_kind" in defs["uq_rdf_quad_quad"]  # also the index of subject lookups
    assert {"pk_rdf_quad", "ix_rdf_quad_p_s", "ix_rdf_quad_o_p", "ix_rdf_quad_graph", "ix_rdf_quad_p_o_ts"} <= set(defs)


def test_a_syntax_error_writes_nothing(tmp_path: Path, engine: sa.Engine) -> None:
    path = tmp_path / "late.nt"
    good = "".join(f'<http://e/s{i}> <http://e/p> "{i}" .\n' for i in range(1000))
    path.write_text(good + "<http://e/s> <http://e/p> broken .\n")
    with pytest.raises(RdfError, match=r"late\.nt: line 1001: "), engine.begin() as conn:
        load_rdf(conn, path)
    assert count(engine) == 0


# the command line ----------------------------------------------------------------------------------------------


def test_cli_loads_and_reloads(tmp_path: Path, catalog_url: str, engine: sa.Engine) -> None:
    path = tmp_path / "stations.nt.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write(Graph().parse(data=TRIPLES, format="turtle").serialize(format="nt"))
    runs = []
    for seed in ("1", "2"):  # two processes, two hash seeds: blank node labels must not depend on either
        env = {**os.environ, "ESDL_DATABASE_URL": catalog_url, "PYTHONHASHSEED": seed}
        run = run_esdl("semantic", "load-rdf", str(path), "--graph", EX + "stations", "--source", "stations", env=env)
        assert run.returncode == 0, run.stderr
        runs.append(json.loads(run.stdout))
    assert runs[0]["format"] == "nt" and runs[0]["source"] == "stations"
    assert runs[0]["inserted"] == runs[0]["quads"] == count(engine, EX + "stations") > 0
    assert (runs[1]["inserted"], runs[1]["already_present"]) == (0, runs[0]["quads"])


def test_cli_errors_exit_2_with_one_line(tmp_path: Path, catalog_url: str, engine: sa.Engine) -> None:
    path = tmp_path / "broken.ttl"
    path.write_text(PREFIXES + "ex:a ex:p ex:b .\nex:a ex:p .\n")
    env = {**os.environ, "ESDL_DATABASE_URL": catalog_url}
    for args, message in (
        ([str(path)], f"{path}: line 6: "),
        ([str(path), "--graph", "no iri"], "not an absolute IRI"),
        ([str(path), "--format", "n3"], "unknown RDF format"),
        ([str(tmp_path / "missing.ttl")], "no such file"),
    ):
        run = run_esdl("semantic", "load-rdf", *args, env=env)
        assert run.returncode == 2, run.stderr
        assert message in run.stderr and len(run.stderr.strip().splitlines()) == 1, run.stderr
        assert run.stdout == ""
    assert count(engine) == 0


def test_literal_values_of_the_dataset_survive(tmp_path: Path, engine: sa.Engine) -> None:
    """The lexical forms stored are those of the file, not rdflib's normalised ones."""
    path = tmp_path / "a.ttl"
    path.write_text(TRIPLES)
    with engine.begin() as conn:
        load_rdf(conn, path)
    with engine.connect() as conn:
        lexical = set(conn.execute(sa.text("SELECT o FROM rdf_quad WHERE o_kind = 3")).scalars())
    assert {"007", "12.50", "1.5E0", "abc", "Zürich ☃", "long " * 2000} <= lexical
    assert rdflib.RDF.type in {p for g in read_back(engine).values() for p in g.predicates()}
