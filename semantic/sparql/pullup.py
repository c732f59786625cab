"""Where PostgreSQL's subquery pull-up would copy computed expressions: a BIND that reads a computed column of
its child twice fences the child (``OFFSET 0``), since pull-up would otherwise copy the expression into each
place that reads it (a chain of doubling BINDs grew as 2^n)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa


def computed_column(column: Any) -> bool:
    """Whether PostgreSQL, pulling subqueries up, would replace ``column`` by a computed expression: it is (through
    any plain subqueries) a SELECT's expression other than a column, a constant or NULL."""
    while True:
        sub = getattr(column, "table", None)
        if not isinstance(sub, sa.sql.selectable.Subquery) or not isinstance(sub.element, sa.sql.Select):
            return False  # a table, a LATERAL, a UNION, a function's rows
        select = sub.element
        if select._offset_clause is not None or select._limit_clause is not None or select._group_by_clauses:
            return False  # never pulled up
        expr = select.selected_columns.get(column.key)
        while isinstance(expr, sa.sql.elements.Label):
            expr = expr.element
        if isinstance(expr, sa.sql.elements.ColumnClause):
            column = expr
            continue
        if expr is None or isinstance(expr, sa.sql.elements.BindParameter | sa.sql.elements.Null):
            return False
        if isinstance(expr, sa.sql.elements.Cast) and isinstance(expr.clause, sa.sql.elements.Null):
            return False
        return True


def reads_computed_twice(roots: list[Any]) -> bool:
    """Whether SQL expressions (``LATERAL`` subqueries: their columns) read some computed column
    (:func:`_computed_column`) more than once, counted as their SQL text repeats them."""
    memo: dict[int, tuple[Any, dict[Any, int]]] = {}
    computed: dict[Any, bool] = {}

    def reads(node: Any) -> dict[Any, int]:
        hit = memo.get(id(node))
        if hit is not None:
            return hit[1]
        out: dict[Any, int] = {}
        if isinstance(node, sa.sql.elements.ColumnClause):
            if node not in computed:
                computed[node] = computed_column(node)
            if computed[node]:
                out[node] = 1
        elif isinstance(node, sa.sql.selectable.Lateral):
            select: Any = node.element
            while isinstance(select, sa.sql.selectable.Subquery):
                select = select.element
            for column in select.selected_columns:
                for key, n in reads(column).items():
                    out[key] = out.get(key, 0) + n
        elif not isinstance(node, sa.sql.selectable.SelectBase | sa.sql.FromClause) or isinstance(
            node, sa.sql.functions.FunctionElement
        ):
            for child in node.get_children():
                for key, n in reads(child).items():
                    out[key] = out.get(key, 0) + n
        memo[id(node)] = (node, out)
        return out

    total: dict[Any, int] = {}
    for root in roots:
        for key, n in reads(root).items():
            total[key] = total.get(key, 0) + n
            if total[key] > 1:
                return True
    return False
