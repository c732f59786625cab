"""The rewriter's stages, printable (``esdl sparql explain --stages``, ``/sparql/explain?stages=1``).

Only the stages that exist as steps of their own are shown: rdflib's algebra (parse), esdl's IR after
translation (:mod:`semantic.sparql.ir`), the IR after GeoSPARQL's query-rewrite rule
(:mod:`semantic.sparql.query_rewrite`), and the final SQL with its parameters. Unfolding the mappings, the
ontology and signature pruning happen while the IR is rendered (:mod:`semantic.sparql.unfold`), not as a pass
with an output of its own, so they have no stage here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from rdflib.paths import Path
from rdflib.plugins.sparql.parserutils import CompValue
from rdflib.term import Node

INDENT = "  "


@dataclass(frozen=True)
class Stage:
    """One stage of a query's rewrite.

    Attributes:
        name: Its key: ``algebra``, ``ir`` or ``sql``.
        title: What it is, in words.
        text: The query after it, printable (indented lines).
    """

    name: str
    title: str
    text: str


def stages(algebra: Any, translated: Any, rewritten: Any, sql: str, params: dict[str, Any]) -> list[Stage]:
    """The stages of one query's rewrite.

    Args:
        algebra: rdflib's parsed query (``semantic.sparql.translate.parse``), its ``algebra`` shown.
        translated: esdl's IR of it (``ir.Query``) after translation proper.
        rewritten: The IR after the query-rewrite rule: the one rendered.
        sql: The SQL it is rewritten into.
        params: The SQL's bound parameters.
    """
    parameters = "".join(f"\n-- {name} = {value!r}" for name, value in params.items())
    return [
        Stage("algebra", "rdflib's SPARQL algebra (parse + translateQuery)", show(algebra.algebra)),
        Stage("ir", "esdl's IR after translation (semantic/sparql/ir.py)", show(translated)),
        Stage(
            "rewritten",
            "the IR after GeoSPARQL's query-rewrite rule (semantic/sparql/query_rewrite.py)",
            show(rewritten),
        ),
        Stage("sql", "the SQL it is rewritten into (unfolded, pruned and optimised while rendered)", sql + parameters),
    ]


def query_stages(text: str, translation: Any, base: str | None = None) -> list[Stage]:
    """The stages of ``text``'s rewrite: rdflib's algebra and esdl's IR after translation proper (parsed and
    translated again: neither depends on the sources), and the rewritten IR and SQL of ``translation``, the IR
    the one its SQL was rendered from (translated for the same sources: whether the query-rewrite rule adds a
    DISTINCT depends on them).

    Args:
        text: The query.
        translation: Its translation with its IR whole (``SparqlEngine.translate_here``).
        base: The base IRI it was translated with.

    Raises:
        QuerySyntaxError: Not a SPARQL query (the translation would have raised it first).
        ValueError: ``translation`` keeps no IR (one from a translator process).
    """
    from semantic.sparql.translate import parse, to_ir

    if translation.query.root is None:
        raise ValueError("the translation keeps no IR (a translator process's): use SparqlEngine.translate_here")
    # parsed twice: the rewrite changes rdflib's expression trees in place, and the algebra is shown as parsed
    translated = to_ir(parse(text, base))
    return stages(parse(text, base), translated, translation.query, translation.sql, translation.params)


def show(node: Any) -> str:
    """``node`` (an rdflib algebra tree, an IR tree, a term) as indented lines: one line per node, its scalar
    fields inline, its child nodes below it."""
    lines: list[str] = []
    _show(node, "", 0, lines)
    return "\n".join(lines)


def _is_tree(value: Any) -> bool:
    """Whether ``value`` is printed on lines of its own (a pattern node) rather than inline."""
    if isinstance(value, CompValue):
        return not _is_expression(value)
    return dataclasses.is_dataclass(value) and not isinstance(value, type)


def _is_expression(value: CompValue) -> bool:
    name = value.name
    return (
        name.endswith("Expression")
        or name.startswith(("Builtin_", "Aggregate_", "Unary"))
        or name
        in (
            "Function",
            "TrueFilter",
        )
    )


def _fields(node: Any) -> list[tuple[str, Any]]:
    if isinstance(node, CompValue):
        return [(k, v) for k, v in node.items() if not k.startswith("_")]
    return [(f.name, getattr(node, f.name)) for f in dataclasses.fields(node)]


def _name(node: Any) -> str:
    return node.name if isinstance(node, CompValue) else type(node).__name__


def _show(node: Any, label: str, depth: int, lines: list[str]) -> None:
    scalars, children = [], []
    for key, value in _fields(node):
        if _is_tree(value) or (isinstance(value, list | tuple) and value and all(_is_tree(v) for v in value)):
            children.append((key, value))
        elif value not in (None, (), [], {}, ""):
            scalars.append(f"{key}={inline(value)}")
    head = f"{label}: " if label else ""
    lines.append(f"{INDENT * depth}{head}{_name(node)}" + (f" {' '.join(scalars)}" if scalars else ""))
    for key, value in children:
        for item in value if isinstance(value, list | tuple) else [value]:
            _show(item, key, depth + 1, lines)


def inline(value: Any) -> str:
    """A term, an expression or a collection of them on one line (terms in N3: ``?x``, ``<iri>``, literals)."""
    if isinstance(value, Node):
        return str(value.n3())
    if isinstance(value, Path):
        return str(value.n3())
    if isinstance(value, CompValue):
        args = ", ".join(f"{k}={inline(v)}" for k, v in _fields(value) if v not in (None, (), [], ""))
        return f"{value.name}({args})"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        args = ", ".join(f"{k}={inline(v)}" for k, v in _fields(value) if v not in (None, (), [], ""))
        return f"{type(value).__name__}({args})"
    if isinstance(value, tuple) and len(value) == 3 and all(isinstance(t, Node | Path) for t in value):
        return " ".join(inline(t) for t in value)  # a triple pattern
    if isinstance(value, list | tuple | set | frozenset):
        return "[" + ", ".join(inline(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {inline(v)}" for k, v in value.items()) + "}"
    return repr(value)


def text(steps: list[Stage]) -> str:
    """The stages as one printable text, each under a heading."""
    return "\n\n".join(f"== {s.name}: {s.title}\n{s.text}" for s in steps)


__all__ = ["Stage", "inline", "query_stages", "show", "stages", "text"]
