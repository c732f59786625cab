"""Bulk loading with ``COPY ... FROM STDIN (FORMAT binary)``, encoded by numpy rather than row by row.

PostgreSQL's binary COPY format is a header, then per row a 16-bit field count and, per field, a 32-bit
length (``-1`` for NULL) followed by the value in network byte order. Rows of fixed-width columns are laid out
as one numpy structured array; rows differ only in which values are NULL, so rows are grouped by their
pattern of NULLs and each group is encoded in one go.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sqlalchemy as sa

HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
TRAILER = (-1).to_bytes(2, "big", signed=True)
PG_EPOCH_US = np.datetime64("2000-01-01T00:00:00", "us").astype(np.int64)

# column kind -> (big-endian numpy type, nullable when NaN)
KINDS: dict[str, str] = {"int8": ">i8", "int4": ">i4", "float8": ">f8", "timestamptz": ">i8"}


@dataclass(frozen=True)
class Column:
    """A column to COPY: its name, PostgreSQL kind (``int8``, ``int4``, ``float8``, ``timestamptz``) and values.

    ``float8`` NaNs become NULL; ``timestamptz`` values are ``datetime64`` (UTC).
    """

    name: str
    kind: str
    values: np.ndarray


def encode_rows(columns: list[Column]) -> bytes:
    """The binary COPY payload (header, rows, trailer) of ``columns``."""
    n = len(columns[0].values)
    if any(len(c.values) != n for c in columns):
        raise ValueError("columns differ in length")
    data: list[np.ndarray] = []
    nulls = np.zeros((n, len(columns)), dtype=bool)
    for k, col in enumerate(columns):
        if col.kind == "timestamptz":
            values = col.values.astype("datetime64[us]").astype(np.int64) - PG_EPOCH_US
        else:
            values = np.asarray(col.values)
        if col.kind == "float8":
            nulls[:, k] = np.isnan(values)
        data.append(values)
    parts = [HEADER]
    # each row's pattern of NULLs as one integer: grouping integers is far cheaper than unique rows of a matrix
    codes = nulls.astype(np.int64) @ (np.int64(1) << np.arange(len(columns), dtype=np.int64))
    if not codes.any():
        groups: list[tuple[np.ndarray, Any]] = [(np.zeros(len(columns), dtype=bool), slice(None))]
    else:
        order = np.argsort(codes, kind="stable")  # rows of one pattern together (row order is not significant)
        _, starts = np.unique(codes[order], return_index=True)
        ends = [*starts[1:], n]
        groups = [(nulls[order[a]], order[a:b]) for a, b in zip(starts, ends, strict=True)]
    for pattern, rows in groups:
        fields: list[tuple[str, str]] = [("count", ">i2")]
        for k, col in enumerate(columns):
            fields.append((f"len{k}", ">i4"))
            if not pattern[k]:
                fields.append((f"v{k}", KINDS[col.kind]))
        block = np.empty(len(data[0][rows]), dtype=np.dtype(fields))
        block["count"] = len(columns)
        for k, col in enumerate(columns):
            if pattern[k]:
                block[f"len{k}"] = -1
            else:
                block[f"len{k}"] = np.dtype(KINDS[col.kind]).itemsize
                block[f"v{k}"] = data[k][rows]
        parts.append(block.tobytes())
    parts.append(TRAILER)
    return b"".join(parts)


def copy_binary(conn: sa.Connection, table: str, columns: list[Column], chunk_rows: int = 500_000) -> int:
    """COPY ``columns`` into ``table`` on the connection's transaction; returns the rows written."""
    from psycopg import sql

    n = len(columns[0].values)
    if n == 0:
        return 0
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary)").format(
        sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(c.name) for c in columns)
    )
    raw = conn.connection.dbapi_connection
    assert raw is not None
    with raw.cursor() as cur:  # type: ignore[attr-defined]
        for start in range(0, n, chunk_rows):
            part = [Column(c.name, c.kind, c.values[start : start + chunk_rows]) for c in columns]
            with cur.copy(statement) as copy:
                copy.write(encode_rows(part))
    return n


def copy_text_rows(conn: sa.Connection, table: str, names: list[str], rows: Sequence[Sequence[object]]) -> int:
    """COPY Python rows (any types psycopg adapts; geometries as hex EWKB strings) into ``table``."""
    from psycopg import sql

    if not rows:
        return 0
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(n) for n in names)
    )
    raw = conn.connection.dbapi_connection
    assert raw is not None
    with raw.cursor() as cur, cur.copy(statement) as copy:  # type: ignore[attr-defined]
        for row in rows:
            copy.write_row(row)
    return len(rows)


def columns_from(mapping: Mapping[str, tuple[str, np.ndarray]]) -> list[Column]:
    """``[Column]`` from ``{name: (kind, values)}``."""
    return [Column(name, kind, values) for name, (kind, values) in mapping.items()]
