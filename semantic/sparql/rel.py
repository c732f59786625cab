"""A rendered node of the SQL IR (:class:`Rel`) and the quad table it reads (:data:`QUADS`): shared by the
renderer (:mod:`semantic.sparql.render`) and the property paths (:mod:`semantic.sparql.paths`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from semantic.sparql.terms import FIELDS, SQL_TYPES, UNKNOWN, TermCols, label
from semantic.vocab import QUAD_COLUMNS, QUAD_TABLE

QUADS = sa.table(QUAD_TABLE, *(sa.column(c) for c in QUAD_COLUMNS))


@dataclass(frozen=True)
class Rel:
    """A rendered node: a subquery and the variables it binds (``maybe``: possibly unbound)."""

    sub: Any
    variables: tuple[str, ...]
    maybe: frozenset[str]
    ordered: bool = False
    empty: bool = False  # known to have no solution (a basic graph pattern no source can match)
    shapes: dict[str, Any] = field(default_factory=dict, compare=False)  # TermCols.shape by variable
    # a plain SELECT (no grouping, DISTINCT, LIMIT or window) that ``sub`` is made of, with its variables' term
    # expressions: a FILTER, a projection or a BIND on top extends it instead of nesting a subquery
    select: Any = field(default=None, compare=False)
    inner: dict[str, TermCols] | None = field(default=None, compare=False)
    grouped: bool = False  # ``select`` has GROUP BY: a FILTER on top is its HAVING
    # term fields whose value is the same in every row (constants, and NULL for fields a term does not have),
    # by variable: ``cols`` gives them as constants, so later nodes and the decoder need not read them
    statics: dict[str, dict[str, Any]] = field(default_factory=dict, compare=False)

    @property
    def order(self) -> Any:
        """The ``__ord`` column (solution order from ORDER BY), or ``None``."""
        return self.sub.c["__ord"] if self.ordered else None

    def cols(self, var: str) -> TermCols:
        """Term columns of ``var`` in this subquery."""
        known = self.statics.get(var, {})
        fields = {f: constant_field(f, known[f]) if f in known else self.sub.c[label(var, f)] for f in FIELDS}
        return TermCols(**fields, shape=self.shapes.get(var))

    def raw(self, var: str) -> TermCols:
        """Term columns of ``var`` read from the subquery, constants included: for the right side of an outer
        join, whose columns are NULL where no row matched (a field that is NULL in every row stays so)."""
        known = self.statics.get(var, {})
        fields = {f: None if known.get(f, UNKNOWN) is None else self.sub.c[label(var, f)] for f in FIELDS}
        return TermCols(**fields, shape=self.shapes.get(var))

    def env(self) -> dict[str, TermCols]:
        """Term columns of every variable."""
        return {v: self.cols(v) for v in self.variables}


def constant_field(name: str, value: Any) -> Any:
    """A term field's constant as a typed SQL literal (``None`` stays absent: NULL)."""
    return None if value is None else sa.literal(value, SQL_TYPES[name])
