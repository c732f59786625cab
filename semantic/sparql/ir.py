"""The rewriter's intermediate form: a relational algebra over solution mappings.

Built from rdflib's SPARQL algebra by :mod:`semantic.sparql.translate`, rendered into SQL by
:mod:`semantic.sparql.render`. Expressions stay rdflib expression trees (``CompValue``, terms, variables) but for
``EXISTS``/``NOT EXISTS``, which are :class:`Exists` nodes holding their pattern's IR; the nodes say how
solutions are produced and combined.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rdflib.term import Node, Variable

# a triple pattern position: a constant term or a variable
Position = Node


@dataclass(frozen=True)
class Quads:
    """A basic graph pattern matched against the quad table (one SQL self-join).

    Attributes:
        triples: The triple patterns.
        graph: ``None``: the active default graph; a term or variable: that named graph (``GRAPH`` clause).
    """

    triples: tuple[tuple[Position, Position, Position], ...]
    graph: Position | None = None


@dataclass(frozen=True)
class PathPattern:
    """A triple pattern whose predicate is a property path (``/``, ``|``, ``^``, ``*``, ``+``, ``?``, ``!``)."""

    subject: Position
    path: Any
    object: Position
    graph: Position | None = None


@dataclass(frozen=True)
class Join:
    """Compatible solutions of both sides merged."""

    left: Any
    right: Any


@dataclass(frozen=True)
class LeftJoin:
    """``OPTIONAL``: the left solutions, extended by compatible right ones where ``expr`` holds."""

    left: Any
    right: Any
    expr: Any = None


@dataclass(frozen=True)
class Union:
    """Solutions of either side."""

    left: Any
    right: Any


@dataclass(frozen=True)
class Minus:
    """Left solutions with no compatible right solution sharing a variable."""

    left: Any
    right: Any


@dataclass(frozen=True)
class Filter:
    """Solutions for which the expression's effective boolean value is true."""

    child: Any
    expr: Any


@dataclass(frozen=True)
class Extend:
    """``BIND``: a new variable from an expression (unbound on error)."""

    child: Any
    var: Variable
    expr: Any


@dataclass(frozen=True)
class Values:
    """Inline data: rows of optional bindings."""

    variables: tuple[Variable, ...]
    rows: tuple[tuple[Node | None, ...], ...]


@dataclass(frozen=True)
class Group:
    """``GROUP BY`` keys with the aggregates computed per group (named by their result variables)."""

    child: Any
    keys: tuple[Any, ...]
    aggregates: tuple[tuple[Variable, Any], ...]


@dataclass(frozen=True)
class OrderBy:
    """Ordering by expressions, each ``(expr, descending)``."""

    child: Any
    conditions: tuple[tuple[Any, bool], ...]


@dataclass(frozen=True)
class Project:
    """Keep only these variables."""

    child: Any
    variables: tuple[Variable, ...]


@dataclass(frozen=True)
class Distinct:
    """Remove duplicate solutions."""

    child: Any


@dataclass(frozen=True)
class Slice:
    """``OFFSET`` / ``LIMIT``."""

    child: Any
    offset: int = 0
    limit: int | None = None


@dataclass(frozen=True)
class Exists:
    """``EXISTS { pattern }`` (``NOT EXISTS``: ``negated``) inside an expression, its pattern translated with the
    rest of the query (the renderer never translates)."""

    pattern: Any
    negated: bool = False


@dataclass(frozen=True)
class Query:
    """A whole query: its form and the node producing its solutions.

    Attributes:
        form: ``SELECT``, ``ASK``, ``CONSTRUCT`` or ``DESCRIBE``.
        root: The solution-producing node.
        variables: The projected variables (SELECT).
        template: CONSTRUCT triple template.
        describe: DESCRIBE targets (terms or variables).
        default_graphs: ``FROM`` graphs, merged into the default graph.
        named_graphs: ``FROM NAMED`` graphs.
        dataset: Whether the query names its dataset (``FROM`` or ``FROM NAMED``): then the default graph is the
            merge of ``default_graphs`` (empty if none) and the named graphs are ``named_graphs`` (none if none),
            as SPARQL 1.1 section 13.2 says; otherwise the stored default graph (with the mapped tables) and
            every named graph.
        base: The base IRI (``BASE``, or the one the query was given), which ``IRI()`` resolves against.
        topology: Whether a basic graph pattern holds a topology relation triple that the rewrite stage
            (:mod:`semantic.sparql.query_rewrite`) has yet to rewrite.
    """

    form: str
    root: Any
    variables: tuple[Variable, ...] = ()
    template: tuple[tuple[Node, Node, Node], ...] = ()
    describe: tuple[Node, ...] = ()
    default_graphs: tuple[str, ...] = ()
    named_graphs: tuple[str, ...] = ()
    dataset: bool = False
    notes: dict[str, Any] = field(default_factory=dict)
    base: str | None = None
    topology: bool = False
