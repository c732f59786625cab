"""Result equality as the SPARQL 1.1 test suite means it.

* Solutions are a multiset; blank nodes match up to one consistent bijection over the whole result
  (found by backtracking over rows).
* Terms are compared as RDF terms: lexical form, datatype and language tag (case-insensitively), so
  ``"1"^^xsd:integer`` and ``"01"^^xsd:integer`` differ. A simple literal and the same ``xsd:string`` literal
  are the same term (RDF 1.1).
* Order counts only when the query has a top-level ``ORDER BY`` and the expected result is ordered; then the
  sequence of the ORDER BY keys' variables must agree (rows with equal keys may come in any order), or the
  whole rows when the keys are not known or not projected.
* CSV results carry lexical forms only, and are compared that way.
* Graphs are compared by :func:`rdflib.compare.isomorphic`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from rdflib import XSD, BNode, Graph, Literal, URIRef
from rdflib.compare import graph_diff, isomorphic, to_isomorphic
from rdflib.term import Identifier

from esdl_testing.w3c.results import QueryOutcome, ResultTable, literal

MAX_SHOWN = 8
"""Rows or triples shown per side in a diff."""

MAX_STEPS = 200_000
"""Backtracking steps allowed when matching blank nodes before giving up (reported as a mismatch)."""

Term = tuple[str, ...]
"""A canonical term: ``("I", iri)``, ``("B", label)`` or ``("L", lexical, datatype, lang)``."""
CanonRow = tuple[Term | None, ...]


@dataclass(frozen=True)
class Comparison:
    """The verdict of a comparison: ``equal``, and a short human-readable ``diff`` when not."""

    equal: bool
    diff: str = ""

    def __bool__(self) -> bool:
        return self.equal


SAME = Comparison(True)


def compare_outcomes(
    expected: QueryOutcome,
    actual: QueryOutcome,
    *,
    order_by: bool = False,
    order_keys: Sequence[str] | None = None,
) -> Comparison:
    """Compare an engine's answer with the expected one.

    Args:
        expected: The expected result (see :func:`esdl_testing.w3c.results.parse_results`).
        actual: The engine's result.
        order_by: The query has a top-level ``ORDER BY``.
        order_keys: The variables the ORDER BY keys depend on; ``None`` compares whole rows in order.
    """
    if isinstance(expected, bool) or isinstance(actual, bool):
        if isinstance(expected, bool) and isinstance(actual, bool):
            return SAME if expected == actual else Comparison(False, f"expected {expected}, got {actual}")
        return Comparison(False, f"expected {_describe(expected)}, got {_describe(actual)}")
    if isinstance(expected, Graph) and isinstance(actual, Graph):
        return compare_graphs(expected, actual)
    if isinstance(expected, ResultTable) and isinstance(actual, ResultTable):
        return compare_tables(expected, actual, order_by=order_by, order_keys=order_keys)
    return Comparison(False, f"expected {_describe(expected)}, got {_describe(actual)}")


def _describe(outcome: object) -> str:
    if isinstance(outcome, bool):
        return f"the boolean {outcome}"
    if isinstance(outcome, ResultTable):
        return f"a result table ({len(outcome.rows)} rows)"
    if isinstance(outcome, Graph):
        return f"a graph ({len(outcome)} triples)"
    return f"an object of type {type(outcome).__name__}"


def canonical_term(term: Identifier | None, lexical_only: bool = False) -> Term | None:
    """The comparison key of a term; ``None`` for unbound (and, lexically, for the empty string)."""
    if term is None:
        return None
    if isinstance(term, BNode):
        return ("B", str(term))
    if lexical_only:
        return None if str(term) == "" else ("L", str(term), str(XSD.string), "")
    if isinstance(term, Literal):
        if term.language:
            return ("L", str(term), "", term.language.lower())
        return ("L", str(term), str(term.datatype or XSD.string), "")
    if isinstance(term, URIRef):
        return ("I", str(term))
    raise TypeError(f"not an RDF term: {term!r}")


def _render(term: Term | None) -> str:
    if term is None:
        return "UNDEF"
    if term[0] == "I":
        return f"<{term[1]}>"
    if term[0] == "B":
        return f"_:{term[1]}"
    lexical, datatype, lang = term[1:]
    if lang:
        return literal(lexical, lang=lang).n3()
    return literal(lexical, None if datatype == str(XSD.string) else datatype).n3()


def compare_tables(
    expected: ResultTable,
    actual: ResultTable,
    *,
    order_by: bool = False,
    order_keys: Sequence[str] | None = None,
) -> Comparison:
    """Compare two SELECT results (see the module docstring for the rules)."""
    if set(expected.variables) != set(actual.variables):
        return Comparison(
            False, f"variables differ: expected {_vars(expected.variables)}, got {_vars(actual.variables)}"
        )
    variables = tuple(sorted(expected.variables))
    lexical = expected.lexical_only or actual.lexical_only
    exp = [_canon_row(r, variables, lexical) for r in expected.rows]
    act = [_canon_row(r, variables, lexical) for r in actual.rows]

    verdict = _multiset_match(exp, act, {}, variables)
    if not verdict.equal:
        return verdict
    if not (order_by and expected.ordered):
        return SAME
    if not actual.ordered:
        return Comparison(False, "the query has ORDER BY but the engine's result is not ordered")
    keys = tuple(order_keys) if order_keys is not None and set(order_keys) <= set(variables) else variables
    positions = [variables.index(k) for k in keys]
    seed: dict[Term, Term] = {}
    reverse: dict[Term, Term] = {}
    for i, (e_row, a_row) in enumerate(zip(exp, act, strict=True)):
        e_key = tuple(e_row[p] for p in positions)
        a_key = tuple(a_row[p] for p in positions)
        if _unify(e_key, a_key, seed, reverse) is None:
            return Comparison(
                False,
                f"same solutions, wrong order (by {_vars(keys)}): row {i + 1} expected "
                f"{_render_key(e_key, keys)}, got {_render_key(a_key, keys)}",
            )
    if not _multiset_match(exp, act, seed, variables).equal:
        return Comparison(False, "same solutions in order, but not under one consistent blank-node mapping")
    return SAME


def _vars(names: Sequence[str]) -> str:
    return " ".join(f"?{n}" for n in names) or "(none)"


def _render_key(key: CanonRow, names: Sequence[str]) -> str:
    return " ".join(f"?{n}={_render(t)}" for n, t in zip(names, key, strict=True))


def _canon_row(row: dict[str, Identifier], variables: tuple[str, ...], lexical: bool) -> CanonRow:
    return tuple(canonical_term(row.get(v), lexical) for v in variables)


def _has_bnode(row: CanonRow) -> bool:
    return any(t is not None and t[0] == "B" for t in row)


def _unify(e_row: CanonRow, a_row: CanonRow, fwd: dict[Term, Term], rev: dict[Term, Term]) -> list[Term] | None:
    """Extend the bijection ``fwd``/``rev`` so that ``e_row`` maps onto ``a_row``.

    Returns the expected blank nodes newly bound (so the caller can undo them), or ``None`` (and no change)
    when the rows cannot match.
    """
    added: list[Term] = []
    for e, a in zip(e_row, a_row, strict=True):
        if e is not None and a is not None and e[0] == "B" and a[0] == "B":
            bound = fwd.get(e)
            if bound is None and a not in rev:
                fwd[e], rev[a] = a, e
                added.append(e)
                continue
            if bound == a:
                continue
        elif e == a:
            continue
        _undo(added, fwd, rev)
        return None
    return added


def _undo(added: list[Term], fwd: dict[Term, Term], rev: dict[Term, Term]) -> None:
    for e in added:
        del rev[fwd.pop(e)]


def _multiset_match(
    exp: list[CanonRow], act: list[CanonRow], seed: dict[Term, Term], names: tuple[str, ...]
) -> Comparison:
    exp_ground = Counter(r for r in exp if not _has_bnode(r))
    act_ground = Counter(r for r in act if not _has_bnode(r))
    exp_blank = [r for r in exp if _has_bnode(r)]
    act_blank = Counter(r for r in act if _has_bnode(r))
    missing = list((exp_ground - act_ground).elements())
    extra = list((act_ground - exp_ground).elements())
    fwd = dict(seed)
    rev = {a: e for e, a in fwd.items()}
    if not missing and not extra and len(exp_blank) == sum(act_blank.values()):
        # Most constrained rows first: those with fewest blank nodes and rarest shapes.
        exp_blank.sort(key=lambda r: (sum(t is not None and t[0] == "B" for t in r), repr(r)))
        steps = [0]
        if _backtrack(exp_blank, 0, act_blank, fwd, rev, steps):
            return SAME
        if steps[0] > MAX_STEPS:
            return Comparison(False, f"gave up matching blank nodes after {MAX_STEPS} steps")
    blank_only = not missing and not extra and len(exp) == len(act)
    # Report: greedy matching of the blank-node rows on top of the ground difference.
    remaining = Counter(act_blank)
    fwd = dict(seed)
    rev = {a: e for e, a in fwd.items()}
    for row in exp_blank:
        for candidate in list(remaining):
            if remaining[candidate] and _unify(row, candidate, fwd, rev) is not None:
                remaining[candidate] -= 1
                break
        else:
            missing.append(row)
    extra.extend(remaining.elements())
    return Comparison(False, _diff_text(missing, extra, names, len(exp), len(act), blank_only))


def _backtrack(
    rows: list[CanonRow],
    i: int,
    pool: Counter[CanonRow],
    fwd: dict[Term, Term],
    rev: dict[Term, Term],
    steps: list[int],
) -> bool:
    if i == len(rows):
        return True
    steps[0] += 1
    if steps[0] > MAX_STEPS:
        return False
    for candidate in list(pool):
        if not pool[candidate]:
            continue
        added = _unify(rows[i], candidate, fwd, rev)
        if added is None:
            continue
        pool[candidate] -= 1
        if _backtrack(rows, i + 1, pool, fwd, rev, steps):
            return True
        pool[candidate] += 1
        _undo(added, fwd, rev)
    return False


def _diff_text(
    missing: list[CanonRow],
    extra: list[CanonRow],
    names: tuple[str, ...],
    n_exp: int,
    n_act: int,
    blank_only: bool,
) -> str:
    lines = [f"expected {n_exp} rows, got {n_act}"]
    if blank_only:
        lines.append("the rows without blank nodes agree; no one-to-one blank-node mapping matches the others")
    for label, rows in (("missing", missing), ("unexpected", extra)):
        if rows:
            lines.append(f"{label} ({len(rows)}):")
            lines.extend(f"  {_render_key(r, names)}" for r in rows[:MAX_SHOWN])
            if len(rows) > MAX_SHOWN:
                lines.append(f"  … {len(rows) - MAX_SHOWN} more")
    return "\n".join(lines)


def _rdf11(graph: Graph) -> Graph:
    """A copy where ``"x"^^xsd:string`` is written as the simple literal ``"x"`` (the same RDF 1.1 term)."""
    out = Graph()
    for triple in graph:
        out.add(
            tuple(  # type: ignore[arg-type]
                literal(str(t)) if isinstance(t, Literal) and t.datatype == XSD.string else t for t in triple
            )
        )
    return out


def compare_graphs(expected: Graph, actual: Graph) -> Comparison:
    """Graph isomorphism, with a diff of the triples that do not correspond."""
    exp, act = _rdf11(expected), _rdf11(actual)
    if isomorphic(exp, act):
        return SAME
    _, only_exp, only_act = graph_diff(to_isomorphic(exp), to_isomorphic(act))
    lines = [f"graphs differ: expected {len(exp)} triples, got {len(act)}"]
    for label, graph in (("missing", only_exp), ("unexpected", only_act)):
        triples = sorted(" ".join(t.n3() for t in triple) for triple in graph)
        if triples:
            lines.append(f"{label} ({len(triples)}):")
            lines.extend(f"  {t} ." for t in triples[:MAX_SHOWN])
            if len(triples) > MAX_SHOWN:
                lines.append(f"  … {len(triples) - MAX_SHOWN} more")
    if len(lines) == 1:
        lines.append("the triples agree except for blank nodes, which are not used consistently")
    return Comparison(False, "\n".join(lines))
