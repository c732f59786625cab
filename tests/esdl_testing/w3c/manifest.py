"""Read the W3C SPARQL 1.1 test manifests into :class:`Case` records.

The suite is a tree of Turtle manifests (``mf:include`` lists, ``mf:entries`` lists). Every entry the
manifests list becomes either a :class:`Case` (query evaluation, positive or negative query syntax) or a
:class:`Skipped` record that says why it is outside query evaluation (update, protocol, federation,
entailment, service description); nothing is dropped silently.
"""

from __future__ import annotations

import functools
import os
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal as TypingLiteral
from urllib.parse import unquote, urljoin, urlparse
from urllib.request import url2pathname

from rdflib import RDF, RDFS, BNode, Graph, Namespace, URIRef
from rdflib.collection import Collection
from rdflib.term import Node

from esdl_testing.paths import CONFORMANCE_DIR, REPO_ROOT

MF = Namespace("http://www.w3.org/2001/sw/DataAccess/tests/test-manifest#")
QT = Namespace("http://www.w3.org/2001/sw/DataAccess/tests/test-query#")
DAWGT = Namespace("http://www.w3.org/2001/sw/DataAccess/tests/test-dawg#")
SD = Namespace("http://www.w3.org/ns/sparql-service-description#")

ENV_VAR = "ESDL_W3C_SPARQL11"
"""Environment variable that overrides where the suite is (the folder holding ``manifest-all.ttl``)."""

DEFAULT_MANIFEST = "manifest-all.ttl"
"""Entry manifest. ``manifest-all.ttl`` rather than ``manifest-sparql11-query.ttl`` because the CSV/TSV and
JSON result-format directories are query evaluation too; everything else it includes is recorded as skipped."""


CaseKind = TypingLiteral["eval", "positive-syntax", "negative-syntax"]

# Specifications (from manifest-all.ttl's mf:includedSpecifications) whose tests are query evaluation.
IN_SCOPE_SPECS = frozenset(
    {
        "http://www.w3.org/TR/sparql11-query/",
        "http://www.w3.org/TR/sparql11-results-csv-tsv/",
        "http://www.w3.org/TR/sparql11-results-json/",
    }
)

_KINDS: dict[URIRef, CaseKind] = {
    MF.QueryEvaluationTest: "eval",
    MF.CSVResultFormatTest: "eval",
    MF.PositiveSyntaxTest: "positive-syntax",
    MF.PositiveSyntaxTest11: "positive-syntax",
    MF.NegativeSyntaxTest: "negative-syntax",
    MF.NegativeSyntaxTest11: "negative-syntax",
}

_OUT_OF_SCOPE_TYPES: dict[URIRef, str] = {
    MF.UpdateEvaluationTest: "SPARQL Update evaluation",
    MF.PositiveUpdateSyntaxTest11: "SPARQL Update syntax",
    MF.NegativeUpdateSyntaxTest11: "SPARQL Update syntax",
    MF.ProtocolTest: "SPARQL Protocol",
    MF.GraphStoreProtocolTest: "SPARQL Graph Store Protocol",
    MF.ServiceDescriptionTest: "SPARQL Service Description",
}

_ORDER_OR_FROM = re.compile(r"\bORDER\s+BY\b|\bFROM\b", re.IGNORECASE)
_ORDER_BY = re.compile(r"\bORDER\s+BY\b", re.IGNORECASE)
_FROM_IRI = re.compile(r"\bFROM\s+(NAMED\s+)?<([^>]*)>", re.IGNORECASE)


class SuiteNotFoundError(RuntimeError):
    """The W3C SPARQL 1.1 test suite is not where it was looked for."""


@dataclass(frozen=True)
class DatasetFiles:
    """The RDF dataset of one case, as files an engine loads into a fresh store.

    Attributes:
        default_graph: Files merged into the default graph (``qt:data``); blank nodes are not shared
            between files.
        named_graphs: Named graphs (``qt:graphData``): graph IRI → file. The IRI is the file's own
            ``file:`` URI unless the manifest gives a label.
        from_graphs: Graphs the query names in ``FROM`` / ``FROM NAMED`` that are local files: IRI → file.
            They are part of the dataset only of a query that names them, so an engine makes them
            resolvable (for example loads them as graphs under those IRIs) without adding them to the
            default graph.
        directory: The case's folder; every relative IRI in the query resolves under it.
    """

    default_graph: tuple[Path, ...] = ()
    named_graphs: Mapping[str, Path] = field(default_factory=dict, hash=False)
    from_graphs: Mapping[str, Path] = field(default_factory=dict, hash=False)
    directory: Path | None = None


@dataclass(frozen=True)
class Case:
    """One conformance case: a query, its dataset and its expected result.

    Attributes:
        id: ``<directory>/<local name>``, for example ``aggregates/agg01``; unique in the suite.
        iri: The test's IRI in its manifest.
        name: ``mf:name``.
        directory: The folder of the test's manifest.
        kind: ``"eval"`` (run and compare), ``"positive-syntax"`` (must parse) or ``"negative-syntax"``
            (must be rejected).
        query_path: The query file.
        default_graph_files: ``qt:data`` files.
        named_graph_files: ``qt:graphData``: graph IRI → file.
        result_path: ``mf:result`` (``None`` for syntax tests).
        approved: ``dawgt:approval dawgt:Approved``.
        approval: The local name of ``dawgt:approval`` (``Approved``, ``Proposed``, …), if any.
        features: ``mf:feature`` and ``mf:requires`` IRIs, sorted.
        comment: ``rdfs:comment``.
        from_graphs: ``FROM`` / ``FROM NAMED`` IRIs of the query that name local files: IRI → file.
        order_by: The query has a top-level ``ORDER BY``.
        order_keys: Names of the variables the top-level ``ORDER BY`` keys depend on; ``None`` when they
            could not be determined (then the whole row order is compared).
    """

    id: str
    iri: str
    name: str
    directory: Path
    kind: CaseKind
    query_path: Path
    default_graph_files: tuple[Path, ...] = ()
    named_graph_files: Mapping[str, Path] = field(default_factory=dict, hash=False)
    result_path: Path | None = None
    approved: bool = False
    approval: str | None = None
    features: tuple[str, ...] = ()
    comment: str = ""
    from_graphs: Mapping[str, Path] = field(default_factory=dict, hash=False)
    order_by: bool = False
    order_keys: tuple[str, ...] | None = None

    @property
    def base(self) -> str:
        """Base IRI of the query: the query file's ``file:`` URI."""
        return self.query_path.as_uri()

    @property
    def category(self) -> str:
        """The suite directory the case comes from (``aggregates``, ``property-path``, …)."""
        return self.directory.name

    def dataset(self) -> DatasetFiles:
        """The dataset an engine loads before running this case."""
        return DatasetFiles(
            default_graph=self.default_graph_files,
            named_graphs=dict(self.named_graph_files),
            from_graphs=dict(self.from_graphs),
            directory=self.directory,
        )

    def query_text(self) -> str:
        """The query, decoded as UTF-8."""
        return self.query_path.read_text(encoding="utf-8")


@dataclass(frozen=True)
class Skipped:
    """A manifest entry outside query evaluation, with the reason it is not run."""

    id: str
    iri: str
    name: str
    test_type: str
    reason: str


@dataclass(frozen=True)
class Suite:
    """Everything the manifests list: runnable cases and skipped entries, in manifest order."""

    root: Path
    cases: tuple[Case, ...]
    skipped: tuple[Skipped, ...]

    def by_id(self) -> dict[str, Case]:
        """Cases keyed by :attr:`Case.id`."""
        return {case.id: case for case in self.cases}


def suite_root(root: Path | str | None = None) -> Path:
    """Where the suite is: ``root`` if given, else ``$ESDL_W3C_SPARQL11``, else the copy committed under
    ``tests/conformance/data/w3c-sparql11`` (the W3C test-suite licence allows it; a clean clone in CI has no
    ``../shared``), else ``<repo>/../shared/w3c-sparql11``.

    Raises:
        SuiteNotFoundError: The folder or its ``manifest-all.ttl`` is missing.
    """
    if root is None:
        env = os.environ.get(ENV_VAR)
        vendored = CONFORMANCE_DIR / "data" / "w3c-sparql11"
        shared = REPO_ROOT.parent / "shared" / "w3c-sparql11"
        root = Path(env) if env else (vendored if (vendored / DEFAULT_MANIFEST).is_file() else shared)
    root = Path(root).resolve()
    if not (root / DEFAULT_MANIFEST).is_file():
        raise SuiteNotFoundError(
            f"W3C SPARQL 1.1 test suite not found at {root} (no {DEFAULT_MANIFEST}). Put a copy of "
            f"w3c/rdf-tests sparql/sparql11 there or point {ENV_VAR} at it."
        )
    return root


def load_suite(root: Path | str | None = None, manifest: str = DEFAULT_MANIFEST) -> Suite:
    """Read ``manifest`` under the suite root, following ``mf:include``, into cases and skipped entries.

    Args:
        root: The suite folder; see :func:`suite_root` for the default.
        manifest: The entry manifest, relative to ``root``.

    Raises:
        SuiteNotFoundError: The suite is missing.
        ValueError: Two cases would get the same id, or an entry lacks its query.
    """
    root = suite_root(root)
    entry = root / manifest
    if not entry.is_file():
        raise SuiteNotFoundError(f"entry manifest {entry} does not exist")
    cases: list[Case] = []
    skipped: list[Skipped] = []
    for path, graph, spec in _manifests(entry, spec=None, seen=set()):
        in_scope_spec = spec is None or spec[0] in IN_SCOPE_SPECS
        for test in _entries(graph):
            item = _read_entry(graph, test, path, spec if not in_scope_spec else None)
            if isinstance(item, Case):
                cases.append(item)
            else:
                skipped.append(item)
    ids = Counter([c.id for c in cases] + [s.id for s in skipped])
    duplicates = sorted(i for i, n in ids.items() if n > 1)
    if duplicates:
        raise ValueError(f"duplicate case ids: {duplicates}")
    return Suite(root=root, cases=tuple(cases), skipped=tuple(skipped))


def default_suite() -> Suite:
    """The suite at :func:`suite_root`, read once per process and shared (a :class:`Suite` is immutable): the
    modules that parametrize over it are all imported at collection, and reading the manifests takes a while."""
    return _suite_at(suite_root(), DEFAULT_MANIFEST)


@functools.cache
def _suite_at(root: Path, manifest: str) -> Suite:
    return load_suite(root, manifest)


def collect_cases(root: Path | str | None = None, manifest: str = DEFAULT_MANIFEST) -> list[Case]:
    """The runnable cases of the suite (see :func:`load_suite`)."""
    return list(load_suite(root, manifest).cases)


def file_path(iri: str) -> Path:
    """The local path of a ``file:`` IRI."""
    parsed = urlparse(iri)
    if parsed.scheme != "file":
        raise ValueError(f"not a file IRI: {iri}")
    return Path(url2pathname(unquote(parsed.path)))


def _parse_manifest(path: Path) -> Graph:
    graph = Graph()
    graph.parse(path, format="turtle", publicID=path.as_uri())
    return graph


def _manifests(
    path: Path, spec: tuple[str, str] | None, seen: set[Path]
) -> Iterator[tuple[Path, Graph, tuple[str, str] | None]]:
    """Depth-first over the manifest tree; ``spec`` is (IRI, label) of the specification a manifest belongs to."""
    if path in seen:
        return
    seen.add(path)
    graph = _parse_manifest(path)
    yield path, graph, spec
    specs = _specifications(graph)
    for manifest in _subjects_of_type(graph, MF.Manifest):
        for include_list in graph.objects(manifest, MF.include):
            for included in Collection(graph, include_list):
                child = file_path(str(included))
                yield from _manifests(child, specs.get(str(included), spec), seen)


def _specifications(graph: Graph) -> dict[str, tuple[str, str]]:
    """Manifest IRI → (specification IRI, label), from ``mf:conformanceRequirement`` lists."""
    out: dict[str, tuple[str, str]] = {}
    for spec, lst in graph.subject_objects(MF.conformanceRequirement):
        label = str(graph.value(spec, RDFS.label) or spec)
        for manifest in Collection(graph, lst):
            out[str(manifest)] = (str(spec), label)
    return out


def _subjects_of_type(graph: Graph, rdf_type: URIRef) -> list[Node]:
    return sorted(graph.subjects(RDF.type, rdf_type), key=str)


def _entries(graph: Graph) -> Iterator[Node]:
    for manifest in _subjects_of_type(graph, MF.Manifest):
        for lst in graph.objects(manifest, MF.entries):
            yield from Collection(graph, lst)


def _local_name(iri: str) -> str:
    return re.split(r"[#/]", iri)[-1]


def _read_entry(graph: Graph, test: Node, manifest: Path, out_of_scope_spec: tuple[str, str] | None) -> Case | Skipped:
    directory = manifest.parent
    iri = str(test)
    case_id = f"{directory.name}/{_local_name(iri)}"
    name = str(graph.value(test, MF.name) or _local_name(iri))
    types = set(graph.objects(test, RDF.type))
    test_type = ", ".join(sorted(_local_name(str(t)) for t in types)) or "(untyped)"
    action = graph.value(test, MF.action)

    def skip(reason: str) -> Skipped:
        return Skipped(id=case_id, iri=iri, name=name, test_type=test_type, reason=reason)

    if out_of_scope_spec is not None:
        return skip(f"{out_of_scope_spec[1]}: outside query evaluation")
    for rdf_type, what in _OUT_OF_SCOPE_TYPES.items():
        if rdf_type in types:
            return skip(f"{what}: outside query evaluation")
    kinds = {_KINDS[t] for t in types if isinstance(t, URIRef) and t in _KINDS}
    if len(kinds) != 1:
        return skip(f"test type {test_type} is not a query evaluation or query syntax test")
    kind = kinds.pop()
    if isinstance(action, BNode):
        if graph.value(action, QT.serviceData) is not None:
            return skip("SPARQL 1.1 Federated Query (qt:serviceData): outside query evaluation")
        if graph.value(action, SD.entailmentRegime) is not None:
            return skip("SPARQL 1.1 Entailment Regimes (sd:entailmentRegime): outside query evaluation")

    if isinstance(action, URIRef):
        query_iri: Node | None = action
        data: list[Node] = []
        graph_data: list[Node] = []
    elif action is not None:
        query_iri = graph.value(action, QT.query)
        data = list(graph.objects(action, QT.data))
        graph_data = list(graph.objects(action, QT.graphData))
    else:
        query_iri, data, graph_data = None, [], []
    if not isinstance(query_iri, URIRef):
        raise ValueError(f"{case_id}: mf:action names no query")
    query_path = file_path(str(query_iri))
    named: dict[str, Path] = {}
    for item in graph_data:
        graph_iri, graph_file = _graph_data(graph, item, case_id)
        named[graph_iri] = graph_file
    result = graph.value(test, MF.result)
    approval = graph.value(test, DAWGT.approval)
    features = sorted(str(f) for p in (MF.feature, MF.requires) for f in graph.objects(test, p))
    comment = " ".join(str(c) for c in graph.objects(test, RDFS.comment))
    case = Case(
        id=case_id,
        iri=iri,
        name=name,
        directory=directory,
        kind=kind,
        query_path=query_path,
        default_graph_files=tuple(sorted(file_path(str(d)) for d in data)),
        named_graph_files=dict(sorted(named.items())),
        result_path=file_path(str(result)) if isinstance(result, URIRef) else None,
        approved=approval == DAWGT.Approved,
        approval=_local_name(str(approval)) if approval is not None else None,
        features=tuple(features),
        comment=comment,
    )
    if kind == "eval":
        case = _with_query_facts(case)
    return case


def _graph_data(graph: Graph, item: Node, case_id: str) -> tuple[str, Path]:
    """(graph IRI, file) of a ``qt:graphData`` object: a file IRI, or ``[ qt:graph <file>; rdfs:label "iri" ]``."""
    if isinstance(item, URIRef):
        return str(item), file_path(str(item))
    source = graph.value(item, QT.graph)
    if not isinstance(source, URIRef):
        raise ValueError(f"{case_id}: qt:graphData without a file")
    label = graph.value(item, RDFS.label)
    return (str(label) if label is not None else str(source)), file_path(str(source))


def _with_query_facts(case: Case) -> Case:
    """Add the query's FROM graphs and top-level ORDER BY keys (rdflib parses the query; regex if it cannot)."""
    text = case.query_text()
    if not _ORDER_OR_FROM.search(_strip_comments(text)):
        return case
    try:
        from_iris, order_by, order_keys = _facts_from_algebra(text, case.base)
    except Exception:
        stripped = _strip_comments(text)
        from_iris = [urljoin(case.base, m.group(2)) for m in _FROM_IRI.finditer(stripped)]
        order_by, order_keys = bool(_ORDER_BY.search(stripped)), None
    from_graphs = {iri: file_path(iri) for iri in from_iris if urlparse(iri).scheme == "file"}
    return replace(case, from_graphs=from_graphs, order_by=order_by, order_keys=order_keys)


def _strip_comments(text: str) -> str:
    # Good enough for the suite's queries: '#' inside IRIs or strings would be cut too, which only
    # makes the regex fallback miss a clause.
    return re.sub(r"(?m)#[^\n]*$", "", text)


def _facts_from_algebra(text: str, base: str) -> tuple[list[str], bool, tuple[str, ...] | None]:
    from rdflib.plugins.sparql import prepareQuery
    from rdflib.plugins.sparql.parserutils import CompValue
    from rdflib.term import Variable

    algebra = prepareQuery(text, base=base).algebra
    from_iris = [str(d.default or d.named) for d in (algebra.get("datasetClause") or [])]
    node = algebra.get("p")
    while isinstance(node, CompValue) and node.name in ("Slice", "Distinct", "Reduced", "Project", "Extend"):
        node = node.get("p")
    if not (isinstance(node, CompValue) and node.name == "OrderBy"):
        return from_iris, False, None
    names: set[str] = set()
    for condition in node.get("expr") or []:
        if isinstance(condition, Variable):
            names.add(str(condition))
        elif isinstance(condition, CompValue) and condition.get("_vars") is not None:
            names.update(str(v) for v in condition["_vars"])
        else:
            return from_iris, True, None
    return from_iris, True, tuple(sorted(names))
