"""The Prefect server's database for ``esdl up``: SQLite under ``PREFECT_HOME`` (Prefect's default), or a database
of the project's PostgreSQL (``esdl up --prefect-db postgres``), as a production install would use.

With PostgreSQL, the Prefect server gets a database of its own, ``prefect``, owned by a login role of its own,
``prefect``, that may do nothing else, in the cluster that holds the catalogue: the project-local PostGIS that
``esdl up`` starts, or the server of ``ESDL_DATABASE_URL`` (whose user must then be allowed to create roles and
databases, ``CREATEROLE`` and ``CREATEDB``). Both are made once and found again (:func:`ensure_postgres`); no other
role may connect to the database.

The choice and the role's random password are kept in ``prefect-db.json`` in the state folder (``ESDL_HOME``),
readable by its owner only (mode 0600), like the cluster's own ``postgres.json``. The password reaches the Prefect
server in its environment (``PREFECT_SERVER_DATABASE_CONNECTION_URL``) and is never printed: what is shown is
:meth:`PrefectDatabase.shown`, the URL without it.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from semantic.errors import DatabaseError
from semantic.store.local import write_private_json

Backend = Literal["sqlite", "postgres"]
BACKENDS: tuple[Backend, ...] = ("sqlite", "postgres")
ROLE = "prefect"
DATABASE = "prefect"
STATE = "prefect-db.json"
SETTING = "PREFECT_SERVER_DATABASE_CONNECTION_URL"  # (Prefect 3's name; PREFECT_API_DATABASE_... is the old one)


@dataclass
class PrefectDatabase:
    """What ``prefect-db.json`` records: the backend the Prefect server was last started with (the one the next
    ``esdl up`` uses unless told otherwise), the PostgreSQL role, database and password, and the URL it was
    started with, its password hidden."""

    backend: Backend = "sqlite"
    role: str = ROLE
    database: str = DATABASE
    password: str | None = None
    shown: str | None = None

    @classmethod
    def load(cls, home: Path) -> PrefectDatabase:
        """The recorded state under ``home``; SQLite before any was recorded (what ``esdl up`` always used)."""
        path = home / STATE
        if not path.exists():
            return cls()
        return cls(**json.loads(path.read_text()))

    def save(self, home: Path) -> None:
        write_private_json(home / STATE, asdict(self))

    def connection_url(self, admin_url: str | None, prefect_home: Path) -> str:
        """The URL the Prefect server is to use (its secret, with the password), its database made if missing.

        Args:
            admin_url: The URL of a role that may create roles and databases in the cluster (any driver); only
                used with PostgreSQL.
            prefect_home: ``PREFECT_HOME``, where the SQLite file lives.

        Raises:
            DatabaseError: The role or database cannot be made (PostgreSQL).
        """
        import sqlalchemy as sa

        if self.backend == "sqlite":
            url = sqlite_url(prefect_home)
        else:
            if admin_url is None:
                raise DatabaseError("the Prefect server's PostgreSQL database needs the project's PostgreSQL")
            if self.password is None:
                self.password = secrets.token_urlsafe(24)
            url = ensure_postgres(admin_url, self.password, self.role, self.database)
        self.shown = sa.make_url(url).render_as_string(hide_password=True)
        return url


def sqlite_url(prefect_home: Path) -> str:
    """Prefect's own default: ``prefect.db`` in ``PREFECT_HOME``."""
    return f"sqlite+aiosqlite:///{prefect_home}/prefect.db"


def ensure_postgres(admin_url: str, password: str, role: str = ROLE, database: str = DATABASE) -> str:
    """Make the login role ``role`` (password ``password``, set again if it exists) and the database ``database``
    it owns, on the server of ``admin_url``, unless they exist; only the owner (and superusers) may connect to it.
    Idempotent.

    Args:
        admin_url: A role that may create roles and databases (the local cluster's owner), any database.

    Returns:
        The database's URL for Prefect's server (asyncpg, the driver it needs), with the password.

    Raises:
        DatabaseError: The server cannot be reached, or the role may not create them (the message says what).
    """
    import psycopg
    import sqlalchemy as sa
    from psycopg import sql

    admin = sa.make_url(admin_url).set(drivername="postgresql")
    ident = sql.Identifier(role)
    try:
        with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True, connect_timeout=10) as conn:
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
            verb = sql.SQL("ALTER" if exists else "CREATE")
            conn.execute(sql.SQL("{} ROLE {} LOGIN PASSWORD {}").format(verb, ident, sql.Literal(password)))
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone():
                conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(database), ident))
            conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(database)))
        # Prefect's migrations create pg_trgm; made here as the administrator, so that its owner need not be one
        with psycopg.connect(
            admin.set(database=database).render_as_string(hide_password=False), autocommit=True, connect_timeout=10
        ) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except psycopg.Error as err:
        raise DatabaseError(
            f"cannot make the Prefect server's database {database!r} and role {role!r} on "
            f"{admin.host}:{admin.port} as {admin.username!r}: {str(err).strip()} (that role needs CREATEROLE and "
            "CREATEDB)"
        ) from err
    return admin.set(
        drivername="postgresql+asyncpg", username=role, password=password, database=database
    ).render_as_string(hide_password=False)


__all__ = ["BACKENDS", "DATABASE", "ROLE", "SETTING", "Backend", "PrefectDatabase", "ensure_postgres", "sqlite_url"]
