"""Connecting to the catalogue database and keeping its schema at the migrations' head."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from semantic.errors import DatabaseError
from semantic.store.local import LocalCluster
from semantic.store.settings import DatabaseSettings

MIGRATIONS = Path(__file__).parent / "migrations"


def normalize_url(url: str) -> str:
    """Use the psycopg 3 driver for ``postgresql://`` / ``postgres://`` URLs."""
    for prefix in ("postgresql://", "postgres://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def local_cluster(settings: DatabaseSettings) -> LocalCluster:
    """The project-local cluster the settings point at."""
    return LocalCluster(settings.home, bindir=settings.pg_bindir)


def database_url(settings: DatabaseSettings, start: bool = True) -> str:
    """The URL of the catalogue: ``ESDL_DATABASE_URL`` or the local cluster (started if ``start``).

    Raises:
        DatabaseError: The local cluster is not running and ``start`` is false.
    """
    if settings.database_url is not None:
        return normalize_url(settings.database_url.get_secret_value())
    cluster = local_cluster(settings)
    if start:
        return cluster.up()
    state = cluster.state()
    if state is None or not cluster.running():
        raise DatabaseError("the local PostGIS is not running: run `esdl db up` or set ESDL_DATABASE_URL")
    return state.url()


def make_engine(url: str, statement_timeout_s: float = 0, pool_size: int | None = None) -> sa.Engine:
    """An engine for ``url`` (psycopg 3), optionally with a statement timeout on every connection.

    ``pool_size``: exactly this many pooled connections, no overflow (a server that bounds its concurrent
    queries sizes the pool to that bound); default: SQLAlchemy's 5 plus 10 overflow.
    """
    options = {}
    if statement_timeout_s:
        options["options"] = f"-c statement_timeout={int(statement_timeout_s * 1000)}"
    pool: dict[str, int] = {} if pool_size is None else {"pool_size": pool_size, "max_overflow": 0}
    try:
        return sa.create_engine(normalize_url(url), pool_pre_ping=True, connect_args=options, **pool)
    except sa.exc.ArgumentError as err:
        raise DatabaseError(f"invalid database URL: {err}") from err


def _alembic_config(connection: sa.Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest migration's revision."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def current_revision(engine: sa.Engine) -> str | None:
    """The revision the database is at (``None`` for an empty database)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: sa.Engine, revision: str = "head") -> str | None:
    """Run the migrations up to ``revision``; returns the revision reached."""
    try:
        with engine.begin() as conn:
            command.upgrade(_alembic_config(conn), revision)
    except sa.exc.OperationalError as err:
        raise DatabaseError(f"cannot reach the database: {err.orig}") from err
    return current_revision(engine)


def downgrade(engine: sa.Engine, revision: str) -> str | None:
    """Run the migrations down to ``revision`` (``base`` drops every table)."""
    with engine.begin() as conn:
        command.downgrade(_alembic_config(conn), revision)
    return current_revision(engine)


def check_schema(engine: sa.Engine) -> None:
    """Raise unless the database is at the migrations' head.

    Raises:
        DatabaseError: Unreachable database, or schema at another revision (the message says what to run).
    """
    try:
        current = current_revision(engine)
    except sa.exc.OperationalError as err:
        raise DatabaseError(f"cannot reach the database: {err.orig}") from err
    head = head_revision()
    if current != head:
        raise DatabaseError(
            f"catalogue schema is at revision {current or 'none'}, expected {head}: run `esdl db upgrade`"
        )


def open_catalog(settings: DatabaseSettings | None = None, pool_size: int | None = None) -> sa.Engine:
    """An engine on a catalogue at the schema head.

    The local cluster is started and migrated on demand (embedded defaults); an external database
    (``ESDL_DATABASE_URL``) must already be migrated with ``esdl db upgrade``.
    """
    settings = settings or DatabaseSettings()
    engine = make_engine(database_url(settings), settings.statement_timeout_s, pool_size)
    if settings.database_url is None and current_revision(engine) != head_revision():
        upgrade(engine)
    check_schema(engine)
    return engine
