"""The rdflib side, run as its own process so that a query that runs too long can be abandoned (killed).

It reads the catalogue from the database named by ``ESDL_SPARQLBENCH_URL`` (an environment variable, so no
password appears on a command line), materialises it as RDF in an in-memory rdflib ``Graph`` with exactly the
IRIs, datatypes and lexical forms of the R2RML mappings, registers GeoSPARQL functions implemented with
shapely, writes ``{"event": "ready", ...}`` as one JSON line on stdout, then answers requests read from stdin,
one JSON line each (``{"name": ..., "text": ...}``), with one JSON line each: the evaluation time and the
canonical rows. Progress goes to stderr.

What is materialised (the triples the queries touch, plus the types; no entailment, the queries name asserted
classes and properties): for each region ``a esdl:Region``, ``rdfs:label``, ``esdl:kind``,
``geo:hasDefaultGeometry``, and its geometry ``a geo:Geometry`` with ``geo:asWKT``; for each feature
``a esdl:DerivedFeature``, ``esdl:time``, ``esdl:value`` (where not NULL), ``esdl:cellCount``,
``geo:hasDefaultGeometry``, and its geometry ``a geo:Geometry`` with ``geo:asWKT``; for each zonal statistic
``a qb:Observation``, ``esdl:region``, ``esdl:time``, ``esdl:mean`` (where not NULL).

GeoSPARQL functions: ``geof:sfIntersects``, ``sfWithin``, ``sfContains`` (arguments: ``geo:wktLiteral``; each
distinct WKT text is parsed once by shapely and prepared, a cache that only helps rdflib).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rdflib import Graph, Literal

HERE = Path(__file__).resolve().parent
for _path in (HERE.parent, HERE.parent.parent):  # bench/ (for _sparqlbench) and the repository
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

GEO = "http://www.opengis.net/ont/geosparql#"
GEOF = "http://www.opengis.net/def/function/geosparql/"
ESDL = "https://w3id.org/esdl/ontology#"
QB = "http://purl.org/linked-data/cube#"


def log(message: str) -> None:
    """Progress output on stderr."""
    print(f"[{time.strftime('%H:%M:%S')}] rdflib worker: {message}", file=sys.stderr, flush=True)


def register_geosparql() -> None:
    """Register shapely-based GeoSPARQL functions with rdflib's SPARQL engine."""
    import shapely
    from rdflib import Literal, URIRef
    from rdflib.plugins.sparql.operators import register_custom_function
    from rdflib.plugins.sparql.sparql import SPARQLError

    cache: dict[str, object] = {}

    def geometry(term: object) -> object:
        if not isinstance(term, Literal) or str(term.datatype) != GEO + "wktLiteral":
            raise SPARQLError("a geo:wktLiteral is expected")
        text = str(term)
        g = cache.get(text)
        if g is None:
            g = shapely.from_wkt(text)
            shapely.prepare(g)
            cache[text] = g
        return g

    def relation(test: Callable[[Any, Any], Any]) -> Callable[..., Literal]:
        def fn(a: Any, b: Any) -> Literal:
            return Literal(bool(test(geometry(a), geometry(b))))

        return fn

    # predicates on prepared geometries: the prepared one first
    functions = {
        "sfIntersects": lambda a, b: shapely.intersects(b, a),
        "sfWithin": lambda a, b: shapely.contains(b, a),
        "sfContains": lambda a, b: shapely.contains(a, b),
    }
    for name, test in functions.items():
        register_custom_function(URIRef(GEOF + name), relation(test), override=True)


def materialise(url: str) -> tuple[Graph, dict[str, int]]:
    """The graph, and triples per part."""
    import sqlalchemy as sa
    from rdflib import RDF, RDFS, XSD, Graph, Literal, URIRef

    from _sparqlbench.data import BASE
    from _sparqlbench.queries import iri_safe, time_lexical
    from semantic.store.db import make_engine

    geo_default, as_wkt = URIRef(GEO + "hasDefaultGeometry"), URIRef(GEO + "asWKT")
    wkt_type, geometry_class = URIRef(GEO + "wktLiteral"), URIRef(GEO + "Geometry")
    p = {n: URIRef(ESDL + n) for n in ("kind", "time", "value", "cellCount", "region", "mean")}
    graph = Graph()
    add = graph.add
    sizes: dict[str, int] = {}
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            n0 = len(graph)
            for rid, name, kind, wkt in conn.execute(sa.text("SELECT id, name, kind, ST_AsText(geom) FROM region")):
                r, g = URIRef(f"{BASE}region/{rid}"), URIRef(f"{BASE}region/{rid}/geometry")
                add((r, RDF.type, URIRef(ESDL + "Region")))
                add((r, RDFS.label, Literal(name)))
                add((r, p["kind"], Literal(kind)))
                add((r, geo_default, g))
                add((g, RDF.type, geometry_class))
                add((g, as_wkt, Literal(wkt, datatype=wkt_type)))
            sizes["regions"] = len(graph) - n0
            n0 = len(graph)
            rows = conn.execution_options(stream_results=True, yield_per=20000).execute(
                sa.text(
                    "SELECT variable_id, kind, time, part, value::text, n_cells, ST_AsText(geom) FROM feature "
                    "ORDER BY variable_id, kind, time, part"
                )
            )
            for vid, kind, t, part, value, n_cells, wkt in rows:
                lexical = time_lexical(t)
                iri = f"{BASE}feature/{vid}/{iri_safe(kind)}/{iri_safe(lexical)}/{part}"
                f, g = URIRef(iri), URIRef(iri + "/geometry")
                add((f, RDF.type, URIRef(ESDL + "DerivedFeature")))
                add((f, p["time"], Literal(lexical, datatype=XSD.dateTime)))
                if value is not None:
                    add((f, p["value"], Literal(value, datatype=XSD.double)))
                add((f, p["cellCount"], Literal(str(n_cells), datatype=XSD.integer)))
                add((f, geo_default, g))
                add((g, RDF.type, geometry_class))
                add((g, as_wkt, Literal(wkt, datatype=wkt_type)))
            sizes["features"] = len(graph) - n0
            n0 = len(graph)
            rows = conn.execution_options(stream_results=True, yield_per=20000).execute(
                sa.text("SELECT variable_id, region_id, time, mean::text FROM zonal_stat")
            )
            for vid, rid, t, mean in rows:
                lexical = time_lexical(t)
                o = URIRef(f"{BASE}zonal/{vid}/{rid}/{iri_safe(lexical)}")
                add((o, RDF.type, URIRef(QB + "Observation")))
                add((o, p["region"], URIRef(f"{BASE}region/{rid}")))
                add((o, p["time"], Literal(lexical, datatype=XSD.dateTime)))
                if mean is not None:
                    add((o, p["mean"], Literal(mean, datatype=XSD.double)))
            sizes["zonal statistics"] = len(graph) - n0
    finally:
        engine.dispose()
    return graph, sizes


def main() -> int:
    """Materialise, then answer requests until stdin closes."""
    from rdflib.plugins.sparql import prepareQuery

    from _sparqlbench.queries import canon_solution

    url = os.environ["ESDL_SPARQLBENCH_URL"]
    t0 = time.perf_counter()
    graph, sizes = materialise(url)
    build_s = time.perf_counter() - t0
    register_geosparql()
    log(f"materialised {len(graph):,} triples in {build_s:.1f} s ({', '.join(f'{k} {v:,}' for k, v in sizes.items())})")
    print(json.dumps({"event": "ready", "triples": len(graph), "build_s": build_s, "sizes": sizes}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        t0 = time.perf_counter()
        prepared = prepareQuery(request["text"])  # parse + algebra, outside the timing (the engine's are cached)
        t1 = time.perf_counter()
        result = list(graph.query(prepared))
        seconds = time.perf_counter() - t1
        variables = request["variables"]
        rows = [canon_solution(r, variables) for r in result]
        log(f"{request['name']}: {len(rows)} rows in {seconds:.2f} s")
        print(
            json.dumps({"name": request["name"], "seconds": seconds, "prepare_s": t1 - t0, "rows": rows}),
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
