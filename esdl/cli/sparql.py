"""``esdl serve`` and ``esdl sparql``: the SPARQL endpoint, and SPARQL queries from the command line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from esdl.cli.root import console, fail, guard, main

QUERY_FORMATS = ["table", "json", "xml", "csv", "tsv", "turtle", "ntriples"]


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
@click.option(
    "--hooks",
    "hooks_file",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="ESDL_HOOKS_FILE",
    default=None,
    help="Webhooks to serve at /hooks/NAME (YAML; default: deployments/hooks.yaml if it exists here).",
)
@click.option(
    "--processes/--no-processes",
    default=True,
    show_default=True,
    help="Serve OGC API - Processes over the Prefect deployments (/processes, /jobs; PREFECT_API_URL).",
)
@guard
def serve(host: str, port: int, hooks_file: Path | None, processes: bool) -> None:
    """Serve the SPARQL 1.1 Protocol at /sparql and a query page at / (limits: ESDL_SPARQL_* settings), the cubes'
    STAC catalog at /stac, OGC API - Processes over the Prefect deployments (/processes, /jobs; ESDL_PROCESSES_*,
    who may run them: ESDL_AUTH_*), the signed webhooks of the hooks file at /hooks/NAME, and /metrics.

    Sets up the read-only database role first (ESDL_SPARQL_READ_ROLE, default esdl_reader); every query runs
    as that role in a read-only transaction with a statement timeout.
    """
    import uvicorn
    from pydantic import ValidationError

    from esdl.api.app import create_app
    from esdl.api.hooks import load_hooks
    from esdl.api.processes import ProcessesSettings
    from esdl.api.settings import SparqlSettings

    default_hooks = Path("deployments/hooks.yaml")
    if hooks_file is None and default_hooks.is_file():
        hooks_file = default_hooks
    hooks = None
    if hooks_file is not None:
        try:
            hooks = load_hooks(hooks_file)
        except FileNotFoundError:
            fail(f"no hooks file {hooks_file}")
        except (ValidationError, ValueError) as err:
            fail(f"{hooks_file} is not a valid hooks file: {err}")

    settings = SparqlSettings()
    if settings.public_url is None:  # sd:endpoint: where this server listens, unless configured
        shown_host = f"[{host}]" if ":" in host else host
        settings = settings.model_copy(update={"public_url": f"http://{shown_host}:{port}/sparql"})
    from esdl.api.auth import AuthSettings

    try:  # settings first: a wrong one is one line and exit 2
        AuthSettings()
        prefix = "ESDL_PROCESSES_"
        processes_settings = ProcessesSettings() if processes else None
    except ValidationError as err:
        prefix = "ESDL_AUTH_" if err.title == "AuthSettings" else prefix
        wrong = "; ".join(f"{prefix}{'_'.join(map(str, e['loc'])).upper() or '*'}: {e['msg']}" for e in err.errors())
        fail(f"invalid setting: {wrong}")
    # the database first, so that one that cannot be used is one line and exit 2 (the app's lifespan sets it up
    # again, with its pool)
    from esdl.api.database import open_reader, session_role

    engine = open_reader(settings, pool_size=1)
    try:
        session_role(engine, settings.read_role)
    finally:
        engine.dispose()
    app = create_app(settings, hooks=hooks, processes=processes_settings)
    shown = f"[{host}]" if ":" in host else host
    console.print(
        f"SPARQL endpoint http://{shown}:{port}/sparql, query page http://{shown}:{port}/",
        highlight=False,
        soft_wrap=True,
    )
    if processes:
        console.print(f"OGC API - Processes http://{shown}:{port}/processes", highlight=False, soft_wrap=True)
    if hooks is not None:
        names = ", ".join(sorted(hooks.hooks)) or "none"
        console.print(f"webhooks http://{shown}:{port}/hooks/NAME ({hooks_file}: {names})", highlight=False)
    # translations are CPU-bound Python threads: hand the GIL over every 1 ms instead of 5, so that the event loop
    # and cheap queries are not held up behind them (measured with bench/hostile.py)
    sys.setswitchinterval(0.001)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="info"))
    try:
        server.run()
    except SystemExit:  # (uvicorn's exit when the lifespan failed: said in one line where its error is known)
        failure = getattr(app.state, "startup_error", None)
        if failure is not None:
            fail(str(failure))
        raise


@main.group()
def sparql() -> None:
    """SPARQL 1.1 + GeoSPARQL over the catalogue and the loaded RDF."""


def _read_query(query: str) -> str:
    if query == "-":
        return sys.stdin.read()
    path = Path(query)
    try:
        is_file = path.is_file()
    except OSError:  # query text too long for a path
        is_file = False
    return path.read_text(encoding="utf-8") if is_file else query


def _show(term: Any) -> str:
    from rdflib import BNode, Literal

    if term is None:
        return ""
    if isinstance(term, BNode):
        return f"_:{term}"
    if isinstance(term, Literal) and term.language:
        return f"{term}@{term.language}"
    return str(term)


def _print_table(result: Any, truncated: bool, max_rows: int) -> None:
    from rdflib import Graph

    out = Console()
    if isinstance(result, bool):
        out.print("true" if result else "false")
        return
    if isinstance(result, Graph):
        table = Table("subject", "predicate", "object")
        for s, p, o in sorted(result):
            table.add_row(_show(s), _show(p), _show(o))
        count = f"{len(result)} triple(s)"
    else:
        table = Table(*result.variables)
        for row in result.rows:
            table.add_row(*(_show(row.get(v)) for v in result.variables))
        count = f"{len(result.rows)} row(s)"
    out.print(table)
    console.print(count + (f", cut off at {max_rows} (ESDL_SPARQL_MAX_ROWS)" if truncated else ""), highlight=False)


@sparql.command("explain")
@click.argument("query", metavar="QUERY|FILE")
@click.option(
    "--stages",
    "show_stages",
    is_flag=True,
    help="Print the query after each stage of the rewrite: rdflib's algebra, esdl's IR, the rewritten IR, the SQL.",
)
@guard
def explain_cmd(query: str, show_stages: bool) -> None:
    """Print the SQL QUERY (SPARQL text, a file holding it, or - for standard input) is rewritten into, with its
    parameters; run nothing. With --stages, the query after each stage of the rewrite (docs/sparql.md)."""
    from semantic.sparql.engine import SparqlEngine
    from semantic.sparql.stages import query_stages, text
    from semantic.store.db import open_catalog

    source = _read_query(query)
    sparql = SparqlEngine(open_catalog(), cache_size=1)
    sparql.sql(source)  # syntax and unsupported features fail here (with the quad signature read first)
    steps = query_stages(source, sparql.translate_here(source))
    click.echo(text(steps) if show_stages else steps[-1].text)


@sparql.command("query")
@click.argument("query", metavar="QUERY|FILE")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(QUERY_FORMATS),
    default="table",
    show_default=True,
    help="table (SELECT, ASK; a triple table for CONSTRUCT/DESCRIBE), SPARQL results json/xml/csv/tsv, "
    "or turtle/ntriples for CONSTRUCT and DESCRIBE.",
)
@click.option("--explain", is_flag=True, help="Print the SQL the query is rewritten into; run nothing.")
@guard
def query_cmd(query: str, fmt: str, explain: bool) -> None:
    """Answer QUERY (SPARQL text, a file holding it, or - for standard input) over the catalogue.

    The query runs in a read-only transaction under ESDL_SPARQL_TIMEOUT_S, and at most ESDL_SPARQL_MAX_ROWS
    solutions are used (a note on stderr says when more matched).
    """
    from esdl.api.database import ReadOnlyRunner
    from esdl.api.errors import NotAcceptable, QueryTimeout
    from esdl.api.results import FORMAT_NAMES, negotiate, serialize
    from esdl.api.settings import SparqlSettings
    from semantic.sparql.engine import SparqlEngine
    from semantic.store.db import open_catalog

    text = _read_query(query)
    settings = SparqlSettings()
    sparql = SparqlEngine(open_catalog(), cache_size=1)
    translation = sparql.translate(text)  # syntax and unsupported features fail here, before the database
    if explain:
        click.echo(sparql.sql(text))
        return
    form = translation.query.form
    chosen = None
    if fmt != "table":
        try:
            chosen = negotiate(form, None, FORMAT_NAMES[fmt].media_type)
        except NotAcceptable:
            fail(f"--format {fmt} cannot represent a {form} result")
    # the user's own role, still read-only and under the timeout
    runner = ReadOnlyRunner(sparql, settings.timeout_s, settings.max_rows, role=None)
    try:
        answer = runner.run(translation)
    except QueryTimeout as err:
        fail(f"{err} (ESDL_SPARQL_TIMEOUT_S)")
    if chosen is None:
        _print_table(answer.result, answer.truncated, settings.max_rows)
        return
    sys.stdout.buffer.write(serialize(answer.result, chosen))
    sys.stdout.flush()
    if answer.truncated:
        console.print(f"cut off at {settings.max_rows} solutions (ESDL_SPARQL_MAX_ROWS)", highlight=False)
