"""Queries run as a role that can only read: the connection as that role, and one read-only transaction per
query with a statement timeout and a row cap.

The endpoint logs in as the login role ``esdl_reader`` (``esdl db upgrade`` creates it), which holds nothing but
``USAGE`` on schema ``public`` and ``SELECT`` on its tables. Every query runs in its own transaction::

    BEGIN; SET TRANSACTION READ ONLY;
    SELECT set_config('statement_timeout', '<ms>', true);   -- SET LOCAL statement_timeout
    <the rewritten query, with LIMIT max_rows + 1>;
    COMMIT;

so a write fails twice over. (Given an engine whose user can write, as tests do, each transaction also drops to
the role: ``SET LOCAL ROLE``.)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg.errors
import sqlalchemy as sa
from rdflib import Graph

from esdl.api.errors import QueryTimeout
from esdl.api.settings import SparqlSettings
from semantic.errors import DatabaseError, QueryDataError, QueryTooComplex
from semantic.sparql.engine import SelectResult, SparqlEngine, Translation
from semantic.store.roles import can_write, check_read_only, ensure_reader, reader_url

_SET_LOCAL = sa.text("SELECT set_config(:name, :value, true)")


def open_reader(settings: SparqlSettings, pool_size: int) -> sa.Engine:
    """An engine that logs in as the role that can only read (``settings.read_role``).

    Its URL: ``ESDL_SPARQL_DATABASE_URL``; else ``ESDL_DATABASE_URL`` with the role and
    ``ESDL_SPARQL_READ_PASSWORD``; else the project-local cluster (started and migrated on demand), whose
    owner sets the role up with the cluster's own reader password (``postgres.json``).

    Raises:
        DatabaseError: No way to log in as the role (an external database without its password), the catalogue
            is not at the schema head, or the role can write.
    """
    from semantic.store import db as store
    from semantic.store.db import DatabaseSettings

    if settings.database_url is not None:
        url = store.normalize_url(settings.database_url.get_secret_value())
    else:
        db = DatabaseSettings()
        if db.database_url is not None:
            if settings.read_password is None:
                raise DatabaseError(
                    "the endpoint connects as the read-only role: set ESDL_SPARQL_READ_PASSWORD (and run "
                    "`esdl db upgrade` with it, which sets the role's password) or ESDL_SPARQL_DATABASE_URL"
                )
            owner_url = store.normalize_url(db.database_url.get_secret_value())
            url = reader_url(owner_url, settings.read_role, settings.read_password.get_secret_value())
        else:
            owner = store.open_catalog(db)
            password = store.local_cluster(db).reader_password()
            try:
                ensure_reader(owner, settings.read_role, password)
            finally:
                owner.dispose()
            url = reader_url(owner.url, settings.read_role, password)
    engine = store.make_engine(url, pool_size=pool_size)
    store.check_schema(engine)
    check_read_only(engine)
    return engine


def session_role(engine: sa.Engine, role: str) -> str | None:
    """The role each transaction must drop to: ``None`` where the connecting user can only read (as it should);
    ``role`` (set up here, ``NOLOGIN``, the user a member) for an engine given by a caller that can write, such as
    a test's owner connection.

    Raises:
        DatabaseError: The role cannot be set up, or can write.
    """
    if not can_write(engine):
        return None
    ensure_reader(engine, role, None, member=True)
    return role


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
    def transaction(self, timeout_s: float | None = None) -> Iterator[sa.Connection]:
        """A connection inside a read-only transaction, with the timeout (``timeout_s``, default the runner's) and
        role set (local to it).

        Raises:
            QueryTimeout: A statement in the block ran past the timeout.
        """
        timeout_s = self.timeout_s if timeout_s is None else timeout_s
        try:
            with self.sparql.engine.connect() as conn, conn.begin():
                conn.exec_driver_sql("SET TRANSACTION READ ONLY")
                timeout_ms = max(1, round(1000 * timeout_s))
                conn.execute(_SET_LOCAL, {"name": "statement_timeout", "value": str(timeout_ms)})
                if self.role is not None:
                    conn.execute(_SET_LOCAL, {"name": "role", "value": self.role})
                yield conn
        except sa.exc.DBAPIError as err:
            translated = _translated(err, timeout_s)
            if translated is None:  # SQL the database rejects for another reason: a bug, a 500 with an id
                raise
            raise translated from err

    def cost(self, tr: Translation, timeout_s: float = 5) -> float:
        """The planner's estimated total cost of a translated query (``EXPLAIN``: planned, not run).

        Raises:
            QueryTimeout: Planning took longer than ``timeout_s``.
        """
        with self.transaction(min(self.timeout_s, timeout_s)) as conn:
            plan = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + tr.sql, tr.params).scalar_one()
        return float(plan[0]["Plan"]["Total Cost"])

    def run(self, tr: Translation, timeout_s: float | None = None) -> Answer:
        """Answer a translated query (see :meth:`SparqlEngine.translate`), under ``timeout_s`` (default: the
        runner's).

        Raises:
            QueryDataError: The database found a value outside its domain.
            QueryTooComplex: The database cannot plan or run a query this large or deeply nested.
            QueryTimeout: The query ran past the statement timeout.
        """
        form = tr.query.form
        with self.transaction(timeout_s) as conn:
            answer, truncated = self.sparql.run(tr, conn, limit=None if form == "ASK" else self.max_rows)
            return Answer(form, answer, truncated)
