"""Engine-agnostic conformance harness for the W3C SPARQL 1.1 query-evaluation test suite.

Read the manifests (:func:`collect_cases`, :func:`load_suite`), give each case to an :class:`Engine`
(:func:`run_case`), compare with the expected result by the suite's rules (:func:`compare_outcomes`).
"""

from esdl_testing.w3c.compare import Comparison, compare_graphs, compare_outcomes, compare_tables
from esdl_testing.w3c.manifest import (
    ENV_VAR,
    Case,
    CaseKind,
    DatasetFiles,
    Skipped,
    Suite,
    SuiteNotFoundError,
    collect_cases,
    default_suite,
    load_suite,
    suite_root,
)
from esdl_testing.w3c.results import (
    QueryOutcome,
    ResultFormatError,
    ResultTable,
    literal,
    literal_normalization,
    parse_results,
    read_graph,
)
from esdl_testing.w3c.runner import CaseResult, Engine, run_case, run_cases, summarize

__all__ = [
    "ENV_VAR",
    "Case",
    "CaseKind",
    "CaseResult",
    "Comparison",
    "DatasetFiles",
    "Engine",
    "QueryOutcome",
    "ResultFormatError",
    "ResultTable",
    "Skipped",
    "Suite",
    "SuiteNotFoundError",
    "collect_cases",
    "compare_graphs",
    "compare_outcomes",
    "compare_tables",
    "default_suite",
    "literal",
    "literal_normalization",
    "load_suite",
    "parse_results",
    "read_graph",
    "run_case",
    "run_cases",
    "suite_root",
    "summarize",
]
