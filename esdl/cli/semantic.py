"""``esdl semantic``: the knowledge graph from the command line (loading RDF files into the quad table)."""

from __future__ import annotations

import json

import click

from esdl.cli.root import guard, main


@main.group()
def semantic() -> None:
    """The knowledge graph over the catalogue: RDF files loaded into the quad table."""


@semantic.command("load-rdf")
@click.argument("path", metavar="FILE", type=click.Path(dir_okay=False))
@click.option("--graph", metavar="IRI", help="Named graph for the file's default graph (default: the default graph).")
@click.option(
    "--format",
    "fmt",
    metavar="F",
    help="turtle, nt, nquads, trig, xml (RDF/XML) or json-ld (default: from the suffix; .gz is looked through).",
)
@click.option("--source", help="Name recorded with the quads; scopes blank nodes (default: the file's path).")
@guard
def load_rdf_cmd(path: str, graph: str | None, fmt: str | None, source: str | None) -> None:
    """Load the RDF file FILE into the quad table and print a JSON summary; reloading it adds nothing.

    Named graphs of TriG, N-Quads and JSON-LD files are kept. The file is parsed before anything is written.
    """
    from semantic.rdf.load import read_rdf, write_quads
    from semantic.store.db import open_catalog

    rdf = read_rdf(path, graph=graph, fmt=fmt, source=source)  # a bad file fails before the database is touched
    with open_catalog().begin() as conn:
        result = write_quads(conn, rdf)
    click.echo(json.dumps(result.as_dict()))
