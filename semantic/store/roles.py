"""The database role that can only read: what the SPARQL endpoint connects as (least privilege).

``esdl db upgrade`` (and ``esdl db up``) create it as a login role with ``USAGE`` on schema ``public`` and
``SELECT`` on its tables (also those the owner creates later), nothing else; the endpoint logs in as it, so even
a rewriter bug cannot reach anything the owner may do. :func:`check_read_only` is what the endpoint verifies at
start.
"""

from __future__ import annotations

import psycopg.errors
import sqlalchemy as sa

from semantic.errors import DatabaseError

READER = "esdl_reader"

_ROLE = sa.text("SELECT rolsuper, rolcanlogin FROM pg_roles WHERE rolname = :role")
_IS_MEMBER = sa.text("SELECT pg_has_role(current_user, :role, 'MEMBER')")
# tables (and views) of schema public the role could change: must be none
_WRITABLE = sa.text(
    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f') "
    "AND has_table_privilege(:role, c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE') ORDER BY 1"
)
# role statements cannot bind parameters: format() quotes the name (%I) and the password (%L) in the server
_CREATE = sa.text("SELECT format('CREATE ROLE %I NOLOGIN', CAST(:role AS text))")
_LOGIN = sa.text("SELECT format('ALTER ROLE %I LOGIN PASSWORD %L', CAST(:role AS text), CAST(:password AS text))")
_NOLOGIN = sa.text("SELECT format('ALTER ROLE %I NOLOGIN', CAST(:role AS text))")


def _run_formatted(conn: sa.Connection, formatter: sa.TextClause, **values: str | None) -> None:
    """Run the statement the server formatted (as the driver's plain text: a ``%`` or ``:`` in a password is
    not a placeholder)."""
    statement = str(conn.execute(formatter, values).scalar_one())
    conn.connection.driver_connection.execute(statement)  # type: ignore[union-attr]


def _quoted(conn: sa.Connection, role: str) -> str:
    return str(conn.execute(sa.text("SELECT quote_ident(:role)"), {"role": role}).scalar_one())


def ensure_reader(engine: sa.Engine, role: str = READER, password: str | None = None, member: bool = False) -> None:
    """Create ``role`` if missing and leave it with read access only. Idempotent.

    Args:
        engine: A connection as the catalogue's owner (or a user with ``CREATEROLE`` and grant rights).
        role: The role's name.
        password: Make it a login role with this password; ``None``: ``NOLOGIN`` (only ``SET ROLE`` to it).
        member: Make the connecting user a member, so that it can ``SET ROLE`` to it.

    Raises:
        DatabaseError: The connecting user may not create or grant the role, or the role can still write (a
            superuser, or a member of a role that can).
    """
    try:
        with engine.begin() as conn:
            if conn.execute(_ROLE, {"role": role}).first() is None:
                with conn.begin_nested():  # another process may create it at the same moment
                    try:
                        _run_formatted(conn, _CREATE, role=role)
                    except sa.exc.ProgrammingError as err:
                        if not isinstance(err.orig, psycopg.errors.DuplicateObject):
                            raise
            ident = _quoted(conn, role)
            if password is not None:
                _run_formatted(conn, _LOGIN, role=role, password=password)
            else:
                _run_formatted(conn, _NOLOGIN, role=role)
            conn.execute(sa.text(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {ident}"))
            conn.execute(sa.text(f"GRANT USAGE ON SCHEMA public TO {ident}"))
            conn.execute(sa.text(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {ident}"))
            conn.execute(sa.text(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO {ident}"))
            if member and not conn.execute(_IS_MEMBER, {"role": role}).scalar():
                conn.execute(sa.text(f"GRANT {ident} TO CURRENT_USER"))
    except sa.exc.DBAPIError as err:
        raise DatabaseError(
            f"cannot set up the read-only role {role!r}: {err.orig}; create it as an administrator, or connect as "
            "a user with CREATEROLE"
        ) from err
    check_read_only(engine, role)


def check_read_only(engine: sa.Engine, role: str | None = None) -> None:
    """Check that ``role`` (``None``: the connecting user) can change no table of schema ``public`` and is no
    superuser.

    Raises:
        DatabaseError: It can write, naming what.
    """
    with engine.connect() as conn:
        name = role if role is not None else str(conn.execute(sa.text("SELECT current_user")).scalar_one())
        row = conn.execute(_ROLE, {"role": name}).first()
        writable = list(conn.execute(_WRITABLE, {"role": name}).scalars())
    if row is not None and row[0]:
        raise DatabaseError(f"role {name!r} is a superuser, it can write anything: it must only read")
    if writable:
        raise DatabaseError(f"role {name!r} can write to {', '.join(writable[:5])}: it must only read")


def can_write(engine: sa.Engine) -> bool:
    """Whether the connecting user can change some table of schema ``public`` (or is a superuser)."""
    try:
        check_read_only(engine)
    except DatabaseError:
        return True
    return False


def reader_url(url: str | sa.URL, role: str, password: str) -> str:
    """``url`` (the owner's) with the read-only login role's name and password instead."""
    return sa.make_url(url).set(username=role, password=password).render_as_string(hide_password=False)
