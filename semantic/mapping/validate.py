"""Mappings checked against the database at start-up: every table and every column they use must exist.

Tables and their columns come from SQLAlchemy's inspector; an ``rr:sqlQuery`` is run as
``SELECT * FROM (query) AS q LIMIT 0`` and its result columns are read. The SQL type of every mapped column is
returned, so the engine knows which columns hold geometries, timestamps or numbers.
"""

from __future__ import annotations

import difflib

import sqlalchemy as sa

from semantic.errors import MappingError
from semantic.mapping.r2rml import LogicalTable, MappingSet, RefObjectMap, TermMap, TriplesMap
from semantic.mapping.tmappings import ForeignKey

ColumnTypes = dict[tuple[str, str], str]
"""SQL type names by ``(logical table key, column)``; the key is the table name as written, or the query text."""


def _term_maps(tm: TriplesMap) -> list[TermMap]:
    terms = [tm.subject, *tm.graphs]
    for pom in tm.predicate_object_maps:
        terms.extend(pom.predicates)
        terms.extend(pom.graphs)
        terms.extend(o for o in pom.objects if isinstance(o, TermMap))
    return terms


class _Schema:
    """Columns of logical tables, read once each."""

    def __init__(self, conn: sa.Connection) -> None:
        # importing geoalchemy2 registers the geometry types, so the inspector reads them instead of NullType
        import geoalchemy2  # noqa: F401

        self.conn = conn
        self.inspector = sa.inspect(conn)
        self.cache: dict[LogicalTable, dict[str, str] | str] = {}

    def columns(self, table: LogicalTable) -> dict[str, str] | str:
        """Column name → SQL type name (lower case), or why there are none."""
        if table not in self.cache:
            self.cache[table] = self._query_columns(table) if table.is_query else self._table_columns(table)
        return self.cache[table]

    def _table_columns(self, table: LogicalTable) -> dict[str, str] | str:
        assert table.table is not None
        if not self.inspector.has_table(table.table, schema=table.schema):
            known = self.inspector.get_table_names(schema=table.schema)
            close = difflib.get_close_matches(table.table, known, n=1)
            hint = f"; did you mean {close[0]}?" if close else f" (tables: {', '.join(sorted(known))})"
            return f"unknown table {table.table_name}{hint}"
        dialect = self.conn.dialect
        return {
            col["name"]: col["type"].compile(dialect=dialect).lower()
            for col in self.inspector.get_columns(table.table, schema=table.schema)
        }

    def _query_columns(self, table: LogicalTable) -> dict[str, str] | str:
        sql = f"SELECT * FROM ({table.sql_query}) AS q LIMIT 0"
        try:
            with self.conn.begin_nested():
                # no_parameters: the query is passed to the driver as written (a % or :name is not a placeholder)
                result = self.conn.execution_options(no_parameters=True).exec_driver_sql(sql)
                description = result.cursor.description if result.cursor is not None else None
                result.close()
        except sa.exc.DBAPIError as err:
            first = str(err.orig).strip().splitlines()[0] if err.orig is not None else str(err)
            return f"rr:sqlQuery fails: {first}"
        names = [(d[0], d[1]) for d in description or ()]
        types = self._type_names([code for _, code in names])
        return {name: types.get(code, "unknown") for name, code in names}

    def _type_names(self, codes: list[object]) -> dict[object, str]:
        oids = sorted({c for c in codes if isinstance(c, int)})
        if not oids or self.conn.dialect.name != "postgresql":
            return {}
        rows = self.conn.execute(
            sa.text("SELECT oid::bigint, format_type(oid, NULL) FROM pg_type WHERE oid = ANY(:oids)"), {"oids": oids}
        )
        return {int(oid): str(name).lower() for oid, name in rows}


def _describe(table: LogicalTable) -> str:
    return f"table {table.table_name}" if not table.is_query else "rr:sqlQuery"


def _check_columns(
    tm: TriplesMap, table: LogicalTable, wanted: list[str], schema: _Schema, problems: list[str], types: ColumnTypes
) -> None:
    columns = schema.columns(table)
    if isinstance(columns, str):
        problem = f"triples map <{tm.name}>: {columns}"
        if problem not in problems:
            problems.append(problem)
        return
    for column in dict.fromkeys(wanted):
        if column in columns:
            types[(table.key, column)] = columns[column]
        else:
            problems.append(
                f"triples map <{tm.name}>: {_describe(table)} has no column {column} (columns: {', '.join(columns)})"
            )


def _validate(conn: sa.Connection, mappings: MappingSet) -> ColumnTypes:
    schema = _Schema(conn)
    problems: list[str] = []
    types: ColumnTypes = {}
    for tm in mappings:
        wanted = [column for term in _term_maps(tm) for column in term.columns]
        refs = [o for pom in tm.predicate_object_maps for o in pom.objects if isinstance(o, RefObjectMap)]
        wanted.extend(child for ref in refs for child, _ in ref.join_conditions)
        _check_columns(tm, tm.logical_table, wanted, schema, problems, types)
        for ref in refs:
            if ref.parent_triples_map not in mappings:
                problems.append(f"triples map <{tm.name}>: unknown parent triples map <{ref.parent_triples_map}>")
                continue
            parent = mappings[ref.parent_triples_map]
            parent_columns = [p for _, p in ref.join_conditions]
            _check_columns(tm, parent.logical_table, parent_columns, schema, problems, types)
    if problems:
        raise MappingError("\n".join(problems))
    return types


def validate_mappings(bind: sa.Engine | sa.Connection, mappings: MappingSet) -> ColumnTypes:
    """Check that every logical table and every column the mappings use exists; return the columns' SQL types.

    Columns are those of subject, predicate, object and graph maps (templates included) and of join conditions
    (child columns in the child's logical table, parent columns in the parent's).

    Args:
        bind: An engine (a connection is opened and closed) or an open connection (queries run in a savepoint).
        mappings: The mappings to check.

    Returns:
        The SQL type name, in lower case, of each column used, by ``(logical table key, column)``: for example
        ``("region", "geom")`` → ``"geometry(multipolygon,4326)"``, ``("zonal_stat", "time")`` →
        ``"timestamp with time zone"``. Columns of a query have no type modifier (``"geometry"``).

    Raises:
        MappingError: Every problem found, one per line, each naming the triples map, the table and the column
            (``triples map <…#Region>: table region has no column nam (columns: id, source, name, …)``).
    """
    if isinstance(bind, sa.Engine):
        with bind.connect() as conn:
            return _validate(conn, mappings)
    return _validate(bind, mappings)


def read_foreign_keys(bind: sa.Engine | sa.Connection, mappings: MappingSet) -> frozenset[ForeignKey]:
    """The foreign keys among the tables the mappings use (for :func:`~semantic.mapping.compile_tmappings`).

    Only keys between tables of the same schema are read; tables are named without their schema.
    """
    if isinstance(bind, sa.Engine):
        with bind.connect() as conn:
            return read_foreign_keys(conn, mappings)
    inspector = sa.inspect(bind)
    tables = {(tm.logical_table.schema, tm.logical_table.table) for tm in mappings if not tm.logical_table.is_query}
    keys = set()
    for schema, table in sorted(tables, key=str):
        assert table is not None
        if not inspector.has_table(table, schema=schema):
            continue
        for fk in inspector.get_foreign_keys(table, schema=schema):
            if fk.get("referred_schema") not in (None, schema):
                continue
            keys.add(
                ForeignKey(table, tuple(fk["constrained_columns"]), fk["referred_table"], tuple(fk["referred_columns"]))
            )
    return frozenset(keys)
