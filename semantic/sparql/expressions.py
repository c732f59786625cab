"""SPARQL expressions as SQL over term columns, with SPARQL's error semantics.

A SPARQL error (type error, unbound variable) is SQL ``NULL``. SQL's three-valued ``AND``/``OR`` then give
exactly SPARQL's truth tables for ``&&``/``||`` with errors, and ``WHERE NULL`` drops the solution as a FILTER
error must. Every constant is a bound parameter.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from rdflib import Literal, URIRef
from rdflib.plugins.sparql.parserutils import CompValue
from rdflib.term import Variable

from semantic.errors import QueryTooComplex, UnsupportedFeature
from semantic.sparql.builtin_functions import BUILTINS
from semantic.sparql.ir import Exists
from semantic.sparql.terms import FIELDS, TermCols, constant
from semantic.sparql.values import (
    KIND,
    Val,
    arg_list,
    boolean_val,
    compare,
    ebv,
    equals,
    in_constants,
    lit,
    numeric_datatype,
    numeric_val,
    settled,
    string_val,
    term_equal,
)
from semantic.vocab import (
    XSD_BOOLEAN,
)

HOIST_NODES = 400
"""Size (SQL expression nodes) past which a compiled sub-expression is hoisted into a ``LATERAL`` subquery, where
the compiler has somewhere to put one: a SPARQL operator reads each of its operands' fields several times (``+``
its datatype nine times), so nested operators would otherwise copy their operands' SQL exponentially."""

MAX_EXPRESSION_NODES = 100_000
"""Largest expression (SQL nodes, counted as its SQL repeats them) compiled where nothing can be hoisted (the
condition of an OPTIONAL); larger: :class:`QueryTooComplex`."""


_OPAQUE = (sa.sql.selectable.SelectBase, sa.sql.selectable.ScalarSelect, sa.sql.elements.TextClause)


def _opaque(node: Any) -> bool:
    """A subquery, a table or a text clause: sized when built, one node where it is used (a SQL function is a
    FROM clause to SQLAlchemy too, but an expression here)."""
    if isinstance(node, _OPAQUE):
        return True
    return isinstance(node, sa.sql.FromClause) and not isinstance(node, sa.sql.functions.FunctionElement)


class ExpressionSize:
    """The size of SQL expressions in nodes as their SQL text repeats them (a node reached twice counts twice),
    computed in time linear in the distinct nodes (memoised): what compiling them would cost, known before."""

    def __init__(self) -> None:
        self._memo: dict[int, tuple[Any, int]] = {}

    def __call__(self, node: Any) -> int:
        if node is None:
            return 0
        hit = self._memo.get(id(node))
        if hit is not None:
            return hit[1]
        # a subquery (EXISTS, a scalar SELECT) was bounded when it was built: one node here
        if _opaque(node):
            n = 1
        else:
            n = 1 + sum(self(child) for child in node.get_children())
        self._memo[id(node)] = (node, n)  # (the node kept: its id cannot be reused meanwhile)
        return n

    def of(self, val: Val) -> int:
        """The size of a compiled expression: its term fields and its boolean."""
        return sum(self(getattr(val.term, f)) for f in FIELDS) + self(val.boolean)


class Compiler:
    """Compiles rdflib expression trees against an environment of variables' term columns.

    Args:
        env: Term columns of each variable in scope.
        exists: Renders ``EXISTS { pattern }`` given the pattern's IR (:class:`~semantic.sparql.ir.Exists`) and
            the environment (set by the renderer).
        functions: Extension functions by IRI (GeoSPARQL), each taking this compiler and the raw arguments.
        base: The query's base IRI, which ``IRI()`` resolves relative references against.
        hoist: Turns a compiled sub-expression into one its parents can read as cheaply as columns (a
            ``LATERAL`` subquery of the renderer's): called for every one larger than :data:`HOIST_NODES`, so
            that the SQL grows linearly with the expression. ``None``: nowhere to hoist to; an expression larger
            than :data:`MAX_EXPRESSION_NODES` is then :class:`QueryTooComplex`.
    """

    def __init__(
        self,
        env: dict[str, TermCols],
        exists: Callable[[Any, dict[str, TermCols]], Any] | None = None,
        functions: dict[str, Callable[[Compiler, list[Any]], Val]] | None = None,
        base: str | None = None,
        hoist: Callable[[Val], Val] | None = None,
    ) -> None:
        self.env = env
        self.exists = exists
        self.functions = functions or {}
        self.base = base
        self.hoist = hoist
        self.size = ExpressionSize()

    def __call__(self, expr: Any) -> Val:
        """Compile ``expr``."""
        if isinstance(expr, Variable):
            cols = self.env.get(str(expr))
            return Val(cols if cols is not None else TermCols(sa.null().cast(KIND), sa.null().cast(sa.Text())))
        if isinstance(expr, URIRef | Literal):
            if isinstance(expr, Literal) and expr.datatype is not None and str(expr.datatype) == XSD_BOOLEAN:
                return boolean_val(lit(bool(expr.toPython()) if expr.toPython() in (True, False) else None))
            return Val(constant(expr))
        if isinstance(expr, Exists):  # (its pattern's IR, rendered by the renderer: see ``exists``)
            if self.exists is None:
                raise UnsupportedFeature("EXISTS here")
            found = boolean_val(self.exists(expr.pattern, self.env))
            return self._bounded(boolean_val(sa.not_(found.boolean)) if expr.negated else found)
        if isinstance(expr, CompValue):
            handler = _DISPATCH.get(expr.name)
            if handler is None:
                raise UnsupportedFeature(expr.name.removeprefix("Builtin_"))
            return self._bounded(handler(self, expr))
        raise UnsupportedFeature(f"expression {type(expr).__name__}")

    def _bounded(self, val: Val) -> Val:
        """``val``, hoisted when it is large and there is somewhere to hoist it to."""
        size = self.size.of(val)
        if size <= HOIST_NODES:
            return val
        if self.hoist is not None:
            return self.hoist(val)
        if size > MAX_EXPRESSION_NODES:
            raise QueryTooComplex(
                f"an expression here would be rewritten into more than {MAX_EXPRESSION_NODES:,} SQL nodes; "
                "bind its parts to variables first (BIND) or simplify it"
            )
        return val

    def _bounded_condition(self, cond: Any) -> Any:
        """A SQL boolean, hoisted when it is large (see :meth:`_bounded`)."""
        if self.size(cond) <= HOIST_NODES:
            return cond
        return self._bounded(boolean_val(cond)).boolean

    def ebv(self, expr: Any) -> Any:
        """The effective boolean value of ``expr`` (NULL: error)."""
        return ebv(self(expr))

    # -- logic and comparison ---------------------------------------------------------------------------

    def _ConditionalAndExpression(self, e: CompValue) -> Val:
        out = self.ebv(e.expr)
        for other in e.other or []:
            out = self._bounded_condition(sa.and_(out, self.ebv(other)))
        return boolean_val(out)

    def _ConditionalOrExpression(self, e: CompValue) -> Val:
        out = self.ebv(e.expr)
        for other in e.other or []:
            out = self._bounded_condition(sa.or_(out, self.ebv(other)))
        return boolean_val(out)

    def _UnaryNot(self, e: CompValue) -> Val:
        return boolean_val(sa.not_(self.ebv(e.expr)))

    def _RelationalExpression(self, e: CompValue) -> Val:
        a = self(e.expr).term
        if e.op in ("IN", "NOT IN"):
            items = arg_list(e.other)
            found = in_constants(a, items) if len(items) > 1 else None
            if found is not None:
                return boolean_val(found if e.op == "IN" else sa.not_(found))
            tests = [equals(a, self(x).term) for x in items]
            found = sa.or_(*tests) if tests else sa.false()
            return boolean_val(found if e.op == "IN" else sa.not_(found))
        b = self(e.other).term
        if e.op == "=":
            return boolean_val(equals(a, b))
        if e.op == "!=":
            return boolean_val(sa.not_(equals(a, b)))
        return boolean_val(compare(a, b, e.op))

    # -- arithmetic -------------------------------------------------------------------------------------

    def _arith(self, a: TermCols, b: TermCols, op: str) -> Val:
        x, y = a.get("num"), b.get("num")
        if op == "+":
            num = x + y
        elif op == "-":
            num = x - y
        elif op == "*":
            num = x * y
        else:
            num = x / sa.func.nullif(y, 0)  # division by zero is an error
        return numeric_val(num, numeric_datatype(a, b, division=op == "/"))

    def _AdditiveExpression(self, e: CompValue) -> Val:
        acc = self(e.expr)
        for op, other in zip(e.op or [], e.other or [], strict=True):
            acc = self._bounded(self._arith(acc.term, self(other).term, op))
        return acc

    def _UnaryMinus(self, e: CompValue) -> Val:
        t = self(e.expr).term
        return numeric_val(-t.get("num"), t.get("dt"))

    def _UnaryPlus(self, e: CompValue) -> Val:
        t = self(e.expr).term
        return numeric_val(t.get("num"), t.get("dt"))

    def _Function(self, e: CompValue) -> Val:
        iri = str(e.iri)
        if iri in self.functions:
            return self.functions[iri](self, list(e.expr or []))
        raise UnsupportedFeature(f"function <{iri}>")


_DISPATCH: dict[str, Callable[[Compiler, CompValue], Val]] = {
    "ConditionalAndExpression": Compiler._ConditionalAndExpression,
    "ConditionalOrExpression": Compiler._ConditionalOrExpression,
    "UnaryNot": Compiler._UnaryNot,
    "RelationalExpression": Compiler._RelationalExpression,
    "AdditiveExpression": Compiler._AdditiveExpression,
    "UnaryMinus": Compiler._UnaryMinus,
    "UnaryPlus": Compiler._UnaryPlus,
    "Function": Compiler._Function,
    "MultiplicativeExpression": Compiler._AdditiveExpression,
    **BUILTINS,
}
"""How each node of rdflib's expression algebra is compiled: the operators here, the builtins' table."""


__all__ = [
    "HOIST_NODES",
    "MAX_EXPRESSION_NODES",
    "Compiler",
    "ExpressionSize",
    "Val",
    "boolean_val",
    "ebv",
    "numeric_val",
    "settled",
    "string_val",
    "term_equal",
]
