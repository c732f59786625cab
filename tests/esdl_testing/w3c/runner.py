"""Run conformance cases against any engine that implements :class:`Engine`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from rdflib import BNode, Graph, Literal, URIRef

from esdl_testing.w3c.compare import compare_outcomes
from esdl_testing.w3c.manifest import Case, DatasetFiles
from esdl_testing.w3c.results import QueryOutcome, ResultTable, parse_results


@runtime_checkable
class Engine(Protocol):
    """What the harness needs from a SPARQL engine.

    The harness calls :meth:`load` once per evaluation case, then :meth:`query` once; syntax cases only
    call :meth:`check_syntax`. Any exception an engine raises (an unsupported feature, say) fails the case
    with the exception's message.
    """

    def load(self, dataset: DatasetFiles) -> None:
        """Replace the engine's dataset with ``dataset`` (a fresh store per case)."""
        ...

    def query(self, text: str, base: str) -> QueryOutcome:
        """Answer ``text`` with ``base`` as base IRI: SELECT → ResultTable, ASK → bool, CONSTRUCT → Graph."""
        ...

    def check_syntax(self, text: str, base: str) -> None:
        """Return if ``text`` is a syntactically valid query; raise (any exception) if not."""
        ...


@dataclass(frozen=True)
class CaseResult:
    """The outcome of one case.

    Attributes:
        case: The case.
        passed: The engine did what the case requires.
        error: ``"ExceptionType: message"`` when the engine raised; ``None`` otherwise.
        detail: Why it failed: the result diff, or what a syntax case expected. Empty on success.
    """

    case: Case
    passed: bool
    error: str | None = None
    detail: str = ""


def run_case(engine: Engine, case: Case) -> CaseResult:
    """Run one case; engine exceptions become failures, never escape."""
    text = case.query_text()
    if case.kind == "positive-syntax":
        try:
            engine.check_syntax(text, case.base)
        except Exception as exc:
            return CaseResult(case, False, _error(exc), "a valid query was rejected")
        return CaseResult(case, True)
    if case.kind == "negative-syntax":
        try:
            engine.check_syntax(text, case.base)
        except Exception as exc:
            return CaseResult(case, True, None, f"rejected as expected: {_error(exc)}")
        return CaseResult(case, False, None, "an invalid query was accepted")

    if case.result_path is None:
        return CaseResult(case, False, None, "the case has no expected result (manifest problem)")
    # An unreadable expected result is a harness problem; let it raise rather than blame the engine.
    expected = parse_results(case.result_path)
    try:
        engine.load(case.dataset())
        actual = engine.query(text, case.base)
    except Exception as exc:
        return CaseResult(case, False, _error(exc), "")
    problem = invalid_outcome(actual)
    if problem:
        return CaseResult(case, False, None, f"the engine returned an invalid result: {problem}")
    verdict = compare_outcomes(expected, actual, order_by=case.order_by, order_keys=case.order_keys)
    return CaseResult(case, verdict.equal, None, verdict.diff)


def invalid_outcome(outcome: object) -> str | None:
    """Why ``outcome`` is not a :data:`QueryOutcome` made of RDF terms, or ``None`` if it is one."""
    if isinstance(outcome, bool | Graph):
        return None
    if not isinstance(outcome, ResultTable):
        return f"{type(outcome).__name__} is not a ResultTable, bool or Graph"
    names = set(outcome.variables)
    for i, row in enumerate(outcome.rows):
        for name, term in row.items():
            if name not in names:
                return f"row {i + 1} binds ?{name}, which is not a result variable"
            if not isinstance(term, URIRef | BNode | Literal):
                return f"row {i + 1} binds ?{name} to {term!r}, which is not an RDF term"
    return None


def run_cases(engine: Engine, cases: Iterable[Case]) -> list[CaseResult]:
    """Run ``cases`` in order."""
    return [run_case(engine, case) for case in cases]


def summarize(results: Iterable[CaseResult]) -> dict[str, Counter[str]]:
    """Pass/fail counts per ``"<category> <kind>"`` (for example ``"functions eval"``), plus ``"total"``."""
    out: dict[str, Counter[str]] = {}
    for result in results:
        verdict = "passed" if result.passed else "failed"
        for key in (f"{result.case.category} {result.case.kind}", "total"):
            out.setdefault(key, Counter())[verdict] += 1
    return dict(sorted(out.items()))


def _error(exc: BaseException) -> str:
    message = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {message[0] if message else ''}".rstrip(": ")
