"""The SPARQL engine: translate (cached), run on PostGIS, turn rows back into RDF terms."""

from __future__ import annotations

import gc
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from rdflib import BNode, Graph, URIRef
from rdflib.term import Node, Variable

from semantic.errors import QueryTooComplex, UnsupportedFeature
from semantic.sparql import ir
from semantic.sparql.build import Translation, translate_for
from semantic.sparql.deadline import TimeLimitExceeded, time_limit
from semantic.sparql.decode import decode_rows
from semantic.sparql.rdfs import read_signature
from semantic.sparql.render import QUADS
from semantic.sparql.signature import QuadSignature
from semantic.sparql.terms import to_rdflib

BYTES_PER_SQL_BYTE = 80
"""Memory a kept translation holds per byte of its SQL (its SQLAlchemy statement, the IR, the SQL text): measured
at 55-70 for rewrites of 0.6 to 1.8 MB of SQL, rounded up."""


def _footprint(tr: Translation) -> int:
    return BYTES_PER_SQL_BYTE * len(tr.sql) + 4 * len(tr.text) + 4096


@dataclass
class SelectResult:
    """Solutions of a SELECT query, in order."""

    variables: list[str]
    rows: list[dict[str, Node]] = field(default_factory=list)


class SparqlEngine:
    """SPARQL 1.1 over the catalogue database.

    Args:
        engine: SQLAlchemy engine of the database (a read-only role in the endpoint).
        functions: Extension functions (GeoSPARQL) by IRI, for the expression compiler.
        cache_size: Translations kept, by query text.
        cache_mb: Memory the kept translations may take, estimated from their SQL (:data:`BYTES_PER_SQL_BYTE`);
            the least recently used go first, and a translation larger than the whole budget is not kept.
        max_sql_bytes: Largest SQL a query may be rewritten into; larger: :class:`QueryTooComplex`.
        translate_timeout_s: Longest a query's translation (parse, rewrite, SQL) may take; longer: it is stopped
            (:mod:`semantic.sparql.deadline`) and :class:`QueryTooComplex`. ``None``: no limit.
        virtual: The catalogue tables are part of the default graph through the shipped R2RML mappings and
            ontology (validated against the database now); ``False``: the quad table alone.
        translate_processes: Translate in this many worker processes (:mod:`semantic.sparql.pool`), each
            translation killed at ``translate_timeout_s`` of wall-clock time; 0: in the calling thread, under
            ``translate_timeout_s`` of its CPU time (:mod:`semantic.sparql.deadline`). Call :meth:`close` to stop
            the processes.
        translate_wait_s: With processes: the longest a translation waits for a free one
            (:class:`~semantic.sparql.pool.TranslatorsBusy` after it).

    Raises:
        MappingError: The mappings name a table or column the database does not have.
    """

    def __init__(
        self,
        engine: sa.Engine,
        functions: dict[str, Any] | None = None,
        cache_size: int = 512,
        cache_mb: float = 256,
        max_sql_bytes: int = 4 * 2**20,
        virtual: bool = True,
        translate_timeout_s: float | None = None,
        translate_processes: int = 0,
        translate_wait_s: float = 10.0,
    ) -> None:
        from semantic.sparql.casts import CASTS
        from semantic.sparql.geo import GEO_FUNCTIONS

        self.engine = engine
        self.functions = {**CASTS, **GEO_FUNCTIONS, **(functions or {})}
        self.mapped = _mapped_sources(engine) if virtual else None
        self.cache_size = cache_size
        self.cache_bytes = int(cache_mb * 2**20)
        self.max_sql_bytes = max_sql_bytes
        self.translate_timeout_s = translate_timeout_s
        self._cached_bytes = 0
        self._cache: OrderedDict[tuple[str, str | None], Translation] = OrderedDict()
        self._lock = threading.Lock()
        self._signature: QuadSignature | None = None
        if self.mapped is not None:
            with engine.connect() as conn:
                self._signature = read_signature(conn)
        self.translate_wait_s = translate_wait_s
        self.pool: Any = None
        if translate_processes > 0:
            from semantic.sparql.pool import TranslatorPool, WorkerSpec

            spec = WorkerSpec(
                dict(functions or {}),
                self.mapped,
                f"{engine.dialect.name}+{engine.dialect.driver}",
                max_sql_bytes,
                max_worker_mb=512,
            )
            self.pool = TranslatorPool(translate_processes, spec)
            weakref.finalize(self, self.pool.close)

    def close(self) -> None:
        """Stop the translator processes, if any (the engine translates in-process afterwards)."""
        if self.pool is not None:
            self.pool.close()
            self.pool = None

    def translate(self, text: str, base: str | None = None, timeout_s: float | None = None) -> Translation:
        """Parse and translate ``text`` (cached by text and base), under ``timeout_s`` of CPU time (default: the
        engine's ``translate_timeout_s``).

        Raises:
            QuerySyntaxError: Not a SPARQL query.
            UnsupportedFeature: A feature the rewriter does not translate.
            QueryTooComplex: Nested past the recursion limit, or rewritten into more SQL than ``max_sql_bytes``.
            QueryDataError: A string holds a NUL or a lone surrogate.
        """
        return self._translate(text, base, self._signature, timeout_s)

    def _translate(
        self, text: str, base: str | None, signature: QuadSignature | None, timeout_s: float | None = None
    ) -> Translation:
        key = (text, base)
        version = signature.version if signature is not None else None
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                if hit.signature_version == version:
                    return hit
        try:
            pool = self.pool
            if pool is not None:
                limit = self.translate_timeout_s if timeout_s is None else timeout_s
                translation = pool.translate(text, base, signature, limit, self.translate_wait_s)
            else:
                with self._time_limit(timeout_s):
                    translation = self._build(text, base, signature)
        except RecursionError:  # nesting deeper than the parser or the rewriter can follow
            raise QueryTooComplex(
                "the query is nested too deeply to translate (Python's recursion limit); split it or flatten it"
            ) from None
        self._keep(key, translation)
        return translation

    @contextmanager
    def _time_limit(self, timeout_s: float | None = None) -> Iterator[None]:
        """Translation work under ``timeout_s`` (default ``translate_timeout_s``) of CPU time: stopped past it, as
        :class:`QueryTooComplex`."""
        limit = self.translate_timeout_s if timeout_s is None else timeout_s
        try:
            with time_limit(limit):
                yield
        except TimeLimitExceeded:
            raise QueryTooComplex(
                f"the query took longer than {limit:g} s to translate (the limit: ESDL_SPARQL_TRANSLATE_TIMEOUT_S); "
                "simplify it or split it"
            ) from None

    def translate_here(self, text: str, base: str | None = None) -> Translation:
        """``text`` translated in this thread as :meth:`translate` would (same sources, same time limit), not
        cached and with its IR whole (a translator process's answer keeps no tree): what ``explain --stages``
        prints, the IR it shows the one its SQL was rendered from."""
        with self._time_limit():
            return self._build(text, base, self._signature)

    def _build(self, text: str, base: str | None, signature: QuadSignature | None) -> Translation:
        # (the IR is translated again, not reused from ``hit``: whether the query-rewrite rule needs a DISTINCT
        # depends on the sources, which a load changes)
        functions, dialect, most = self.functions, self.engine.dialect, self.max_sql_bytes
        return translate_for(
            text, base, signature, functions=functions, mapped=self.mapped, dialect=dialect, max_sql_bytes=most
        )

    def _keep(self, key: tuple[str, str | None], translation: Translation) -> None:
        """Cache ``translation``, dropping the least recently used past the cache's entries or bytes."""
        size = _footprint(translation)
        with self._lock:
            old = self._cache.pop(key, None)
            if old is not None:
                self._cached_bytes -= _footprint(old)
            if size <= self.cache_bytes:
                self._cache[key] = translation
                self._cached_bytes += size
            while self._cache and (len(self._cache) > self.cache_size or self._cached_bytes > self.cache_bytes):
                self._cached_bytes -= _footprint(self._cache.popitem(last=False)[1])

    def is_cached(self, text: str, base: str | None = None) -> bool:
        """Whether a translation of ``text`` is kept (a later :meth:`translate` of it is then a lookup)."""
        with self._lock:
            return (text, base) in self._cache

    @property
    def cached_bytes(self) -> int:
        """The estimated memory of the kept translations."""
        return self._cached_bytes

    def sql(self, text: str, base: str | None = None) -> str:
        """The SQL a query is rewritten into (``explain``), with parameters as placeholders."""
        if self.mapped is not None:
            with self.engine.connect() as conn:
                signature = read_signature(conn)
            with self._lock:
                if self._signature is None or self._signature.version < signature.version:
                    self._signature = signature
        return self.translate(text, base).sql

    def query(self, text: str, base: str | None = None, connection: sa.Connection | None = None) -> Any:
        """Answer a query: a :class:`SelectResult`, a ``bool`` (ASK) or an rdflib ``Graph``."""
        tr = self.translate(text, base)
        if connection is None:
            with self.engine.connect() as conn:
                return self._run(tr, conn)
        return self._run(tr, connection)

    def _run(self, tr: Translation, conn: sa.Connection) -> Any:
        return self.run(tr, conn)[0]

    def run(self, tr: Translation, conn: sa.Connection, limit: int | None = None) -> tuple[Any, bool]:
        """Answer a translated query on ``conn`` (the caller's transaction, timeout and role).

        Args:
            tr: From :meth:`translate`.
            conn: The connection.
            limit: At most this many solutions (of the WHERE clause, for CONSTRUCT and DESCRIBE).

        Returns:
            The answer (as :meth:`query`) and whether solutions beyond ``limit`` were left out.
        """
        sql, params = tr.sql, tr.params
        if limit is not None and tr.query.form != "ASK":  # the final SELECT never has a LIMIT of its own
            sql, params = f"{sql} LIMIT %(esdl_row_limit)s", {**params, "esdl_row_limit": limit + 1}
        with _collector_paused():
            if self.mapped is None:
                conn.exec_driver_sql(_SETTINGS)
                rows = _fetch(conn, sql, params)
            else:
                version, rows = _fetch_started(conn, sql, params)
                if version != tr.signature_version:  # a load committed since the query was rendered
                    signature = self._signature
                    if signature is None or signature.version != version:
                        signature = read_signature(conn)
                        with self._lock:
                            if self._signature is None or self._signature.version < signature.version:
                                self._signature = signature
                    tr = self._translate(tr.text, tr.base, signature)
                    return self.run(tr, conn, limit)
            if tr.query.form == "ASK":
                return bool(rows[0][0]), False
            truncated = limit is not None and len(rows) > limit
            solutions = decode_rows(rows[:limit] if limit is not None else rows, tr.plan)
        if tr.query.form == "SELECT":
            return SelectResult([str(v) for v in tr.query.variables] or list(tr.variables), solutions), truncated
        if tr.query.form == "CONSTRUCT":
            return _construct(tr.query.template, solutions), truncated
        return self._describe(tr.query, solutions, conn), truncated

    def _describe(self, query: ir.Query, solutions: list[dict[str, Node]], conn: sa.Connection) -> Graph:
        resources: set[Node] = set()
        for target in query.describe:
            if isinstance(target, Variable):
                resources |= {s[str(target)] for s in solutions if str(target) in s}
            else:
                resources.add(target)
        graph = Graph()
        iris = [str(r) for r in resources if isinstance(r, URIRef)]
        if not iris:
            return graph
        q = QUADS.alias("d")
        stmt = sa.select(q.c.s_kind, q.c.s, q.c.p, q.c.o_kind, q.c.o, q.c.o_dt, q.c.o_lang).where(
            q.c.s.in_(iris), q.c.s_kind == 1, q.c.graph == ""
        )
        for row in conn.execute(stmt):
            o = to_rdflib(row.o_kind, row.o, row.o_dt, row.o_lang)
            if o is not None:
                graph.add((URIRef(row.s), URIRef(row.p), o))
        return graph


# JIT compilation of the (large) rewritten SQL costs far more than these queries run, and a double's text must be
# its shortest exact digits whatever the session says (lexical forms are read from it): set for the transaction
_SETTINGS = "SELECT set_config('jit', 'off', true), set_config('extra_float_digits', '1', true)"
# the same, and the quad signature's version (a load committed since a query was rendered renders it again)
_START = (
    "SELECT st.version FROM rdf_signature_state AS st, set_config('jit', 'off', true) AS jit, "
    "set_config('extra_float_digits', '1', true) AS digits WHERE st.id = 1"
)


def _fetch(conn: sa.Connection, sql: str, params: dict[str, Any]) -> list[Any]:
    """Every row of ``sql``, as the driver's own tuples: SQLAlchemy's Row objects cost more to build and to index
    than decoding saves (errors are still raised, and wrapped, by ``exec_driver_sql``)."""
    result = conn.exec_driver_sql(sql, params)
    try:
        return list(result.cursor.fetchall())
    finally:
        result.close()


def _fetch_started(conn: sa.Connection, sql: str, params: dict[str, Any]) -> tuple[int, list[Any]]:
    """The signature's version (and the settings, :data:`_START`) and every row of ``sql``, sent together in one
    round trip where the driver can pipeline (psycopg 3), else one after the other. The rows are those of a
    query rendered for some version: the caller runs it again when the version it reads differs."""
    raw: Any = conn.connection.dbapi_connection
    pipeline = getattr(raw, "pipeline", None)
    if pipeline is None:
        return conn.exec_driver_sql(_START).scalar_one(), _fetch(conn, sql, params)
    start, cursor = raw.cursor(), raw.cursor()
    try:
        with pipeline():
            start.execute(_START)
            cursor.execute(sql, params)
        version = start.fetchone()[0]
        return version, cursor.fetchall()
    except conn.dialect.loaded_dbapi.Error as err:  # wrapped as exec_driver_sql wraps it
        raise sa.exc.DBAPIError.instance(sql, params, err, conn.dialect.loaded_dbapi.Error) from err
    finally:
        start.close()
        cursor.close()


def _mapped_sources(engine: sa.Engine) -> Any:
    """The shipped mappings, validated against the database and compiled with the ontology (T-mappings)."""
    from semantic.mapping.ontology import load_ontology
    from semantic.mapping.r2rml_read import load_mappings
    from semantic.mapping.tmappings import compile_tmappings
    from semantic.mapping.validate import read_foreign_keys, validate_mappings
    from semantic.sparql.mapped import MappedSources

    mappings = load_mappings()
    types = validate_mappings(engine, mappings)
    tmappings = compile_tmappings(mappings, load_ontology(), read_foreign_keys(engine, mappings))
    inspector = sa.inspect(engine)
    keys: dict[str, tuple[tuple[str, ...], ...]] = {}
    for lt in {tm.logical_table for tm in mappings}:
        if lt.is_query:
            continue
        table, schema = str(lt.table), lt.schema
        pk = tuple(inspector.get_pk_constraint(table, schema=schema)["constrained_columns"])
        unique = [tuple(u["column_names"]) for u in inspector.get_unique_constraints(table, schema=schema)]
        keys[lt.key] = tuple(k for k in (pk, *unique) if k)
    return MappedSources(tmappings, types, keys)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused while rows become terms: they make many objects and no cycle,
    and a full collection that the allocations would trigger costs more than decoding (about 90 ms with the
    engine's modules loaded). It runs again afterwards if it ran before."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _construct(template: tuple[tuple[Node, Node, Node], ...], solutions: list[dict[str, Node]]) -> Graph:
    graph = Graph()
    for solution in solutions:
        bnodes: dict[BNode, BNode] = {}
        for triple in template:
            terms = []
            for t in triple:
                if isinstance(t, Variable):
                    terms.append(solution.get(str(t)))
                elif isinstance(t, BNode):
                    terms.append(bnodes.setdefault(t, BNode()))
                else:
                    terms.append(t)
            s, p, o = terms
            if s is None or p is None or o is None or not isinstance(p, URIRef) or isinstance(s, type(None)):
                continue
            if s.__class__.__name__ == "Literal":
                continue
            graph.add((s, p, o))
    return graph


__all__ = ["SelectResult", "SparqlEngine", "Translation", "UnsupportedFeature"]
