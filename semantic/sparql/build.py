"""A query's translation: parse, rewrite into SQL, compile once (what the engine caches and a translator process
sends back)."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import count
from typing import Any

import sqlalchemy as sa
from rdflib.term import Variable

from semantic.errors import QueryDataError, QueryTooComplex
from semantic.sparql import ir
from semantic.sparql.decode import AS_TEXT, DOUBLE_TEXT, Plan
from semantic.sparql.geometry_values import rewrite_for
from semantic.sparql.mapped import table_names
from semantic.sparql.query_rewrite import rewritten
from semantic.sparql.rdfs import with_axioms
from semantic.sparql.render import Rel, Renderer
from semantic.sparql.signature import QuadSignature
from semantic.sparql.terms import label
from semantic.sparql.translate import parse, to_ir
from semantic.vocab import IRI, XSD_DOUBLE, XSD_INTEGER


def _check_strings(params: dict[str, Any]) -> None:
    """No string the query binds holds a NUL or a lone surrogate: no text the database can store or compare."""
    for value in params.values():
        if not isinstance(value, str):
            continue
        if "\x00" in value:
            raise QueryDataError("a string in the query holds a NUL character (U+0000), which text cannot hold")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as err:  # an escape like \\uD800: half of a UTF-16 pair, not a character
            bad = value[err.start : err.end]
            raise QueryDataError(f"a string in the query holds a lone surrogate ({bad!a}), not a character") from None


@dataclass
class Translation:
    """A translated query: its IR, its SQL statement and how to read the rows."""

    query: ir.Query
    statement: Any
    variables: tuple[str, ...]
    text: str = ""
    base: str | None = None
    signature_version: int | None = None  # of the quad signature it was rendered for (virtual graph only)
    sql: str = ""  # the statement compiled once for the engine's driver (its parameters: ``params``)
    params: dict[str, Any] = field(default_factory=dict)
    plan: Plan = ()  # how to read each variable's term from a row (see ``_final``)


def translate_for(
    text: str,
    base: str | None,
    signature: QuadSignature | None,
    *,
    functions: dict[str, Any],
    mapped: Any,
    dialect: Any,
    max_sql_bytes: int,
) -> Translation:
    """:func:`build_translation` for the sources as they stand: the loaded data's RDFS axioms joined to ``mapped``
    (:func:`~semantic.sparql.rdfs.with_axioms`) and the query-rewrite rule told what it reads
    (:func:`~semantic.sparql.geometry_values.rewrite_for`). The one way the engine, its translator processes and
    ``explain --stages`` translate, so that what is printed is what is rendered.

    Raises:
        As :func:`build_translation`.
    """
    mapped = with_axioms(mapped, signature.axioms) if signature is not None else mapped
    with rewrite_for(mapped, signature):
        return build_translation(
            text,
            base,
            signature,
            functions=functions,
            mapped=mapped,
            dialect=dialect,
            max_sql_bytes=max_sql_bytes,
        )


def build_translation(
    text: str,
    base: str | None,
    signature: QuadSignature | None,
    *,
    functions: dict[str, Any],
    mapped: Any,
    dialect: Any,
    max_sql_bytes: int,
    query: ir.Query | None = None,
) -> Translation:
    """Parse and translate ``text`` for the quad ``signature`` (``mapped``: the virtual graph's sources, or
    ``None``), compiled for ``dialect``; ``query``: its IR, already parsed (rewritten here by
    :func:`~semantic.sparql.query_rewrite.rewritten` unless it has been).

    Raises:
        QuerySyntaxError, UnsupportedFeature, QueryTooComplex, QueryDataError: As :meth:`SparqlEngine.translate`.
        RecursionError: Nested past the recursion limit.
    """
    query = rewritten(query if query is not None else to_ir(parse(text, base)))  # GeoSPARQL's rule: its own stage
    renderer = Renderer(
        query.default_graphs,
        query.named_graphs,
        functions,
        mapped,
        signature,
        base=query.base,
        dataset=query.dataset,
    )
    token = table_names.set(count())
    try:
        rel = renderer.render(query.root)
    finally:
        table_names.reset(token)
    plan: Any = ()
    if query.form == "ASK":
        statement: Any = sa.select(sa.exists().select_from(rel.sub))
        variables: tuple[str, ...] = ()
    else:
        variables = rel.variables
        statement, plan = _final(rel)
    # compiled here, once: running a cached translation skips SQLAlchemy's per-execution cache key, which
    # walks the whole (large) statement
    compiled = statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    version = signature.version if signature is not None else None
    translation = Translation(
        query, statement, variables, text, base, version, str(compiled), dict(compiled.params), plan
    )
    _check_strings(translation.params)  # once per translation: a cached one has passed
    # and the constants that are no parameters: a CONSTRUCT template's, a DESCRIBE's IRIs
    constants = [t for triple in query.template for t in triple] + list(query.describe)
    _check_strings({str(i): str(t) for i, t in enumerate(constants) if not isinstance(t, Variable)})
    if len(translation.sql) > max_sql_bytes:
        raise QueryTooComplex(
            f"the query rewrites into {len(translation.sql) / 2**20:.1f} MiB of SQL, over the limit of "
            f"{max_sql_bytes / 2**20:.1f} MiB (ESDL_SPARQL_MAX_SQL_BYTES); make its patterns more specific"
        )
    return translation


_READ = ("k", "v", "dt", "lang", "num")  # the term fields decoding reads (a term is its kind, text, datatype,
# language, and the value of a computed number)


def _final(rel: Rel) -> tuple[Any, Plan]:
    """The outermost SELECT, and how to read a variable's term from its rows (see ``decode.Plan``): per field,
    ``(index, constant)``, the column at ``index``, or ``constant`` when ``index`` is -1 (a field that is the same
    in every row is not fetched); and for an IRI template whose columns the SELECT has (``TermCols.lift``), the
    template and the columns of its placeholders instead of the IRI's text."""
    from semantic.sparql.render import static_fields

    # a plain SELECT is fetched from directly; where it is not grouped, its IRI templates are lifted (a grouped
    # SELECT can only return its grouping keys and aggregates)
    inner = rel.inner if rel.select is not None and rel.inner is not None else None
    cols: list[Any] = []
    plan = []
    for v in rel.variables:
        term = inner[v] if inner is not None else rel.cols(v)
        known = static_fields(term)
        as_text = False  # the value is read from the lexical form (the number's own text), not fetched
        if term.shape is not None and term.shape[0] == "number":
            # a literal of the shape's datatype wherever it is bound (its fields may be NULL where it is not)
            known = {"dt": term.shape[1], "lang": None} | known
            as_text = term.shape[1] in (XSD_INTEGER, XSD_DOUBLE) and "v" not in known
        # a computed double (no lexical form in SQL) is fetched as the database's text of it, which decoding
        # makes canonical faster than Python's repr of the float
        double = "v" in known and known["v"] is None and "num" not in known and known.get("dt") == XSD_DOUBLE
        lift = term.lift if inner is not None and not rel.grouped and known.get("k") == IRI else None
        fields = []
        for f in _READ:
            if f == "num" and as_text:
                fields.append((AS_TEXT, None))
            elif f == "num" and double:
                fields.append((DOUBLE_TEXT, None))
            elif f == "v" and double:
                fields.append((len(cols), None))
                num = term.get("num") if inner is not None else rel.sub.c[label(v, "num")]
                cols.append(sa.cast(sa.cast(num, sa.Double()), sa.Text()))
            elif f in known:
                fields.append((-1, known[f]))
            elif f == "v" and lift is not None:
                fields.append((-1, None))
            else:
                fields.append((len(cols), None))
                cols.append(term.get(f) if inner is not None else rel.sub.c[label(v, f)])
        lifted = None
        if lift is not None:
            lifted = (lift.template, tuple((len(cols) + i, kind) for i, (_, kind) in enumerate(lift.parts)))
            cols += [expr for expr, _ in lift.parts]
        plan.append((v, tuple(fields), lifted))
    if inner is not None:
        stmt = rel.select.with_only_columns(*(cols or [sa.literal(1).label("one")]))
        return stmt, tuple(plan)
    stmt = sa.select(*(cols or [sa.literal(1).label("one")])).select_from(rel.sub)
    return (stmt.order_by(rel.order) if rel.ordered else stmt), tuple(plan)


__all__ = ["Translation", "build_translation", "translate_for"]
