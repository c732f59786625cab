"""Queries run as a role that can only read: the role's set-up, and one read-only transaction per query with
a statement timeout and a row cap.

Every query runs in its own transaction::

    BEGIN; SET TRANSACTION READ ONLY;
    SELECT set_config('statement_timeout', '<ms>', true);   -- SET LOCAL statement_timeout
    SELECT set_config('role', 'esdl_reader', true);         -- SET LOCAL ROLE
    <the rewritten query, with LIMIT max_rows + 1>;
    COMMIT;

so a write fails twice over: the transaction is read-only, and the role holds nothing but ``USAGE`` on schema
``public`` and ``SELECT`` on its tables.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg.errors
import sqlalchemy as sa
from rdflib import Graph

from esdl.api.errors import QueryTimeout
from semantic.errors import DatabaseError, QueryDataError, QueryTooComplex
from semantic.sparql.engine import SelectResult, SparqlEngine, Translation

_SET_LOCAL = sa.text("SELECT set_config(:name, :value, true)")
_ROLE_EXISTS = sa.text("SELECT rolsuper FROM pg_roles WHERE rolname = :role")
_IS_MEMBER = sa.text("SELECT pg_has_role(current_user, :role, 'MEMBER')")
# tables (and views) of schema public the role could change: must be none
_WRITABLE = sa.text(
    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f') "
    "AND has_table_privilege(:role, c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE') ORDER BY 1"
)


def quote_identifier(engine: sa.Engine, name: str) -> str:
    """``name`` as a quoted SQL identifier (for statements where it cannot be a bound parameter)."""
    return str(engine.dialect.identifier_preparer.quote_identifier(name))


def ensure_read_role(engine: sa.Engine, role: str) -> None:
    """Create ``role`` (``NOLOGIN``) if missing and leave it with read access only.

    Grants ``USAGE`` on schema ``public`` and ``SELECT`` on its tables (also those the connecting user creates
    later), revokes every other table privilege, and makes the connecting user a member so that it can
    ``SET ROLE``. Idempotent.

    Raises:
        DatabaseError: The connecting user may not create or grant the role, or the role can still write
            (a superuser, or a member of a role that can).
    """
    ident = quote_identifier(engine, role)
    try:
        with engine.begin() as conn:
            if conn.execute(_ROLE_EXISTS, {"role": role}).first() is None:
                with conn.begin_nested():  # another server may create it at the same moment
                    try:
                        conn.execute(sa.text(f"CREATE ROLE {ident} NOLOGIN"))
                    except sa.exc.ProgrammingError as err:
                        if not isinstance(err.orig, psycopg.errors.DuplicateObject):
                            raise
            conn.execute(sa.text(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {ident}"))
            conn.execute(sa.text(f"GRANT USAGE ON SCHEMA public TO {ident}"))
            conn.execute(sa.text(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {ident}"))
            conn.execute(sa.text(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO {ident}"))
            if not conn.execute(_IS_MEMBER, {"role": role}).scalar():
                conn.execute(sa.text(f"GRANT {ident} TO CURRENT_USER"))
            writable = list(conn.execute(_WRITABLE, {"role": role}).scalars())
    except sa.exc.DBAPIError as err:
        raise DatabaseError(
            f"cannot set up the read-only role {role!r} (ESDL_SPARQL_READ_ROLE): {err.orig}; "
            "create it as an administrator, or connect as a user with CREATEROLE"
        ) from err
    if writable:
        raise DatabaseError(
            f"role {role!r} can write to {', '.join(writable[:5])}: it must only read; "
            "choose another ESDL_SPARQL_READ_ROLE"
        )


def _translated(err: sa.exc.DBAPIError, timeout_s: float) -> Exception | None:
    """The user-facing error of a failed statement: 400 for what the query did, 503 for the database's state,
    ``None`` for anything else (SQL the database rejects is a bug of the rewriter).

    Messages are the database's primary message only: no connection details, settings or class names.
    """
    orig = err.orig
    primary = getattr(getattr(orig, "diag", None), "message_primary", None) or str(orig).splitlines()[0]
    if isinstance(orig, psycopg.errors.QueryCanceled):
        return QueryTimeout(timeout_s)
    if isinstance(orig, psycopg.errors.ProgramLimitExceeded):  # SQLSTATE class 54: stack depth, sizes
        return QueryTooComplex(f"the database cannot run a query this large or deeply nested: {primary}")
    if isinstance(orig, psycopg.errors.DataError) or isinstance(err, sa.exc.DataError):  # class 22
        return QueryDataError(f"the query uses a value outside its domain: {primary}")
    if isinstance(err, sa.exc.OperationalError):
        return DatabaseError("the database failed the query; it may be restarting or unreachable")
    return None


@dataclass
class Answer:
    """A query's answer and whether the row cap cut it off.

    Attributes:
        form: ``SELECT``, ``ASK``, ``CONSTRUCT`` or ``DESCRIBE``.
        result: A :class:`SelectResult`, a ``bool`` (ASK) or an rdflib ``Graph``.
        truncated: More than ``max_rows`` solutions matched; only the first ``max_rows`` were used.
    """

    form: str
    result: SelectResult | bool | Graph
    truncated: bool = False


class ReadOnlyRunner:
    """Runs translated queries in read-only transactions, as ``role``, under a timeout and a row cap.

    Args:
        sparql: The engine that translates queries and decodes rows.
        timeout_s: Statement timeout of one query.
        max_rows: Most solutions used; the cap applies to the solutions of the WHERE clause, so a CONSTRUCT
            or DESCRIBE graph is built from the first ``max_rows`` of them.
        role: Role to ``SET LOCAL ROLE`` to (``None``: the connecting user, still read-only).
    """

    def __init__(self, sparql: SparqlEngine, timeout_s: float, max_rows: int, role: str | None) -> None:
        self.sparql = sparql
        self.timeout_s = timeout_s
        self.max_rows = max_rows
        self.role = role

    @contextmanager
    def transaction(self) -> Iterator[sa.Connection]:
        """A connection inside a read-only transaction, with the timeout and role set (local to it).

        Raises:
            QueryTimeout: A statement in the block ran past the timeout.
        """
        try:
            with self.sparql.engine.connect() as conn, conn.begin():
                conn.exec_driver_sql("SET TRANSACTION READ ONLY")
                timeout_ms = max(1, round(1000 * self.timeout_s))
                conn.execute(_SET_LOCAL, {"name": "statement_timeout", "value": str(timeout_ms)})
                if self.role is not None:
                    conn.execute(_SET_LOCAL, {"name": "role", "value": self.role})
                yield conn
        except sa.exc.DBAPIError as err:
            translated = _translated(err, self.timeout_s)
            if translated is None:  # SQL the database rejects for another reason: a bug, a 500 with an id
                raise
            raise translated from err

    def run(self, tr: Translation) -> Answer:
        """Answer a translated query (see :meth:`SparqlEngine.translate`).

        Raises:
            QueryDataError: The database found a value outside its domain.
            QueryTooComplex: The database cannot plan or run a query this large or deeply nested.
            QueryTimeout: The query ran past the statement timeout.
        """
        form = tr.query.form
        with self.transaction() as conn:
            answer, truncated = self.sparql.run(tr, conn, limit=None if form == "ASK" else self.max_rows)
            return Answer(form, answer, truncated)
