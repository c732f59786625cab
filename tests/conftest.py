"""Shared fixtures: a real Prefect server for flow tests, and sample-data paths."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from cubes.sources import resolve_path

SAMPLE = "pkg://iris_sample_data/sample_data"


def sample_path(name: str) -> str:
    """Local path of an iris-sample-data file."""
    return resolve_path(f"{SAMPLE}/{name}")


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real temporary Prefect server (SQLite) for the whole session; yields its API URL.

    The URL is also exported as ``PREFECT_API_URL`` so subprocesses (CLI builds) report to the same server.
    """
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        url = PREFECT_API_URL.value()
        old = os.environ.get("PREFECT_API_URL")
        os.environ["PREFECT_API_URL"] = url
        try:
            yield url
        finally:
            if old is None:
                os.environ.pop("PREFECT_API_URL", None)
            else:
                os.environ["PREFECT_API_URL"] = old


@pytest.fixture
def repo_root() -> Path:
    """The repository root."""
    return Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def postgis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real PostGIS for the session, with a template database migrated to the schema head.

    ``ESDL_TEST_DATABASE_URL`` (a role that may create databases) points at an existing server; otherwise a
    throwaway cluster is started from the system's PostgreSQL binaries (as the ``postgres`` user when root).
    Missing PostgreSQL or PostGIS fails the tests; it never skips them. Yields the template database's URL.
    """
    import sqlalchemy as sa

    from semantic.store.db import make_engine, normalize_url, upgrade
    from semantic.store.local import LocalCluster

    external = os.environ.get("ESDL_TEST_DATABASE_URL")
    cluster = None
    if external:
        admin_url = normalize_url(external)
    else:
        cluster = LocalCluster(tmp_path_factory.mktemp("pg"), settings={"fsync": "off", "full_page_writes": "off"})
        admin_url = cluster.up()
    admin = make_engine(admin_url).execution_options(isolation_level="AUTOCOMMIT")
    url = sa.engine.make_url(admin_url)
    with admin.connect() as conn:
        conn.execute(sa.text("DROP DATABASE IF EXISTS esdl_template"))
        conn.execute(sa.text("CREATE DATABASE esdl_template"))
    template = url.set(database="esdl_template").render_as_string(hide_password=False)
    engine = make_engine(template)
    upgrade(engine)
    engine.dispose()
    try:
        yield template
    finally:
        admin.dispose()
        if cluster is not None:
            cluster.destroy()


@contextmanager
def fresh_database(template_url: str) -> Iterator[str]:
    """A new database copied from the migrated template (``CREATE DATABASE ... TEMPLATE``), dropped afterwards."""
    import uuid

    import sqlalchemy as sa

    from semantic.store.db import make_engine

    url = sa.engine.make_url(template_url)
    name = f"esdl_test_{uuid.uuid4().hex[:12]}"
    admin = make_engine(url.set(database="postgres").render_as_string(hide_password=False)).execution_options(
        isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE esdl_template'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def catalog_url(postgis_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh catalogue database (a copy of the migrated template) for one test, as ``ESDL_DATABASE_URL``."""
    with fresh_database(postgis_server) as url:
        monkeypatch.setenv("ESDL_DATABASE_URL", url)
        yield url
