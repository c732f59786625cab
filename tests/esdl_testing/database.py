"""Throwaway databases copied from the migrated template that :func:`~esdl_testing.fixtures.postgis.postgis_server`
makes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from semantic.store.db import make_engine

TEMPLATE = "esdl_template"
"""The template database: created and migrated to the schema head once per session."""


@contextmanager
def fresh_database(template_url: str) -> Iterator[str]:
    """A new database copied from the migrated template (``CREATE DATABASE ... TEMPLATE``), dropped afterwards."""
    url = sa.engine.make_url(template_url)
    name = f"esdl_test_{uuid.uuid4().hex[:12]}"
    admin = make_engine(url.set(database="postgres").render_as_string(hide_password=False)).execution_options(
        isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE {TEMPLATE}'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def server_incarnation(conn: sa.Connection) -> tuple[object, object]:
    """What changes when the PostgreSQL server restarts, a crash restart included: the postmaster's start time
    does not change when a backend dies and the postmaster reinitialises, but the checkpointer is started again
    (a new process id)."""
    started = conn.execute(sa.text("SELECT pg_postmaster_start_time()")).scalar()
    checkpointer = conn.execute(
        sa.text("SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'")
    ).scalar()
    return started, checkpointer
