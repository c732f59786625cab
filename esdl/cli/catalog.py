"""``esdl db``, ``esdl regions`` and ``esdl catalog``: the PostGIS catalogue from the command line."""

from __future__ import annotations

import json
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from esdl.cli.root import fail, guard, main
from semantic.store.settings import DatabaseSettings


def _settings() -> DatabaseSettings:
    return DatabaseSettings()


def _print_rows(title: str, rows: list[Any], columns: list[str]) -> None:
    table = Table(*columns, title=title)
    for row in rows:
        table.add_row(*("—" if v is None else f"{v:.6g}" if isinstance(v, float) else str(v) for v in row))
    Console().print(table)


@main.group()
def db() -> None:
    """The catalogue database: the project-local PostGIS, or ESDL_DATABASE_URL."""


@db.command("up")
@guard
def db_up() -> None:
    """Create (first time) and start the project-local PostGIS, and migrate it to the newest schema."""
    from semantic.store import db as store

    settings = _settings()
    if settings.database_url is not None:
        fail("ESDL_DATABASE_URL is set: the local cluster is not used (run `esdl db upgrade` for that database)")
    cluster = store.local_cluster(settings)
    engine = store.make_engine(cluster.up())
    revision = store.upgrade(engine)
    _reader(engine, cluster.reader_password())
    status = cluster.status()
    click.echo(f"PostGIS up on 127.0.0.1:{status['port']} (data {status['data_dir']}), schema at {revision}")


@db.command("down")
@guard
def db_down() -> None:
    """Stop the project-local PostGIS."""
    from semantic.store import db as store

    stopped = store.local_cluster(_settings()).down()
    click.echo("PostGIS stopped" if stopped else "PostGIS was not running")


@db.command("status")
@guard
def db_status() -> None:
    """Print where the catalogue is, whether it runs, and its schema revision (JSON)."""
    from semantic.store import db as store

    settings = _settings()
    info: dict[str, Any] = {"head": store.head_revision()}
    if settings.database_url is not None:
        info["database"] = "ESDL_DATABASE_URL"
        url: str | None = store.normalize_url(settings.database_url.get_secret_value())
    else:
        cluster = store.local_cluster(settings)
        info.update({"database": "local", **cluster.status()})
        state = cluster.state()
        url = state.url() if info["running"] and state else None
    if url is not None:
        info["revision"] = store.current_revision(store.make_engine(url))
    click.echo(json.dumps(info, indent=1))


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Migrate to this revision.")
@guard
def db_upgrade(revision: str) -> None:
    """Run the Alembic migrations on the catalogue database."""
    from semantic.store import db as store

    settings = _settings()
    engine = store.make_engine(store.database_url(settings))
    click.echo(f"schema at {store.upgrade(engine, revision)}")
    if settings.database_url is None:
        password: str | None = store.local_cluster(settings).reader_password()
    else:
        from esdl.api.settings import SparqlSettings

        secret = SparqlSettings().read_password
        password = None if secret is None else secret.get_secret_value()
    role = _reader(engine, password)
    if password is None:
        click.echo(
            f"role {role} can only read but cannot log in: set ESDL_SPARQL_READ_PASSWORD and run this again for the "
            "SPARQL endpoint to connect as it"
        )


def _reader(engine: Any, password: str | None) -> str:
    """Create or refresh the login role that can only read (the SPARQL endpoint's); its name."""
    from esdl.api.settings import SparqlSettings
    from semantic.store.roles import ensure_reader

    role = SparqlSettings().read_role
    ensure_reader(engine, role, password)
    return role


@main.group()
def regions() -> None:
    """Region sets (polygons) for zonal statistics."""


@regions.command("import")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--set", "source", help="Name of the region set (default: the file's stem).")
@click.option("--name-field", help="Attribute holding region names (default: name, id or code).")
@click.option("--kind", default="region", show_default=True, help="Kind of the regions (basin, country...).")
@click.option("--layer", help="Layer of a multi-layer file (GeoPackage).")
@click.option("--repair/--no-repair", default=True, show_default=True, help="Repair invalid geometries.")
@guard
def regions_import(
    path: str, source: str | None, name_field: str | None, kind: str, layer: str | None, repair: bool
) -> None:
    """Import the polygons of a GeoJSON, GeoPackage or Shapefile (reprojected to EPSG:4326) as a region set."""
    from semantic.store.db import open_catalog
    from semantic.store.regions import import_regions, read_regions

    regions = read_regions(path, source=source, name_field=name_field, kind=kind, layer=layer, repair=repair)
    engine = open_catalog(_settings())
    with engine.begin() as conn:
        result = import_regions(conn, regions)
    if regions.repaired:
        Console(stderr=True).print(
            f"[yellow]repaired {len(regions.repaired)} invalid geometries:[/] {', '.join(regions.repaired[:10])}",
            highlight=False,
        )
    click.echo(json.dumps(result.as_dict()))


@regions.command("list")
@guard
def regions_list() -> None:
    """List the region sets."""
    from semantic.store.db import open_catalog
    from semantic.store.regions import list_region_sets

    with open_catalog(_settings()).connect() as conn:
        rows = list_region_sets(conn)
    _print_rows("region sets", list(rows), ["set", "regions", "area km²", "kinds"])


@main.group()
def catalog() -> None:
    """The catalogue of cubes, zonal statistics and features."""


@catalog.command("load")
@click.argument("cube_path", metavar="CUBE", type=click.Path())
@click.option("--regions", multiple=True, help="Region set name or regions file (repeatable).")
@click.option("--features", multiple=True, help="Threshold to vectorise: VAR:VALUE (>=), VAR:<VALUE... (repeatable).")
@click.option("--variable", "variables", multiple=True, help="Only these variables' statistics (repeatable).")
@click.option("--min-cells", default=1, show_default=True, type=click.IntRange(min=1), help="Smallest feature.")
@click.option("--scheduler", help="Address of an existing Dask scheduler (default: a local cluster).")
@guard
def catalog_load(
    cube_path: str,
    regions: tuple[str, ...],
    features: tuple[str, ...],
    variables: tuple[str, ...],
    min_cells: int,
    scheduler: str | None,
) -> None:
    """Register the cube published at CUBE with its zonal statistics and features (a Prefect flow run)."""
    from flows.load_catalog import load_catalog
    from semantic.store.db import open_catalog
    from semantic.store.plan import needs_database, plan_load

    # every input is checked before the flow run starts: a bad one exits 2 with nothing written
    engine = open_catalog(_settings()) if needs_database(list(regions)) else None
    plan_load(cube_path, list(regions), list(features), list(variables) or None, engine, with_stats=False)
    cluster = {"address": scheduler} if scheduler else None
    result = load_catalog(
        cube=cube_path,
        regions=list(regions),
        features=list(features),
        variables=list(variables) or None,
        min_cells=min_cells,
        cluster=cluster,
    )
    click.echo(result.model_dump_json())


@catalog.command("list")
@guard
def catalog_list() -> None:
    """List the registered cubes."""
    from semantic.store.catalog import list_cubes
    from semantic.store.db import open_catalog

    with open_catalog(_settings()).connect() as conn:
        rows = list_cubes(conn)
    _print_rows(
        "cubes",
        [
            (r.name, r.version, r.time_start.date(), r.time_end.date(), r.variables, r.zonal_stats, r.features)
            for r in rows
        ],
        ["cube", "version", "from", "to", "variables", "zonal stats", "features"],
    )
