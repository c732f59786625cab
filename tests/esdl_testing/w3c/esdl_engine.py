"""The harness's :class:`~esdl_testing.w3c.runner.Engine` for our SPARQL-to-SQL engine: data through the quad table."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from esdl_testing.w3c.manifest import DatasetFiles
from esdl_testing.w3c.results import QueryOutcome, ResultTable, identifiers
from semantic.rdf.load import load_rdf
from semantic.sparql.engine import SelectResult, SparqlEngine
from semantic.sparql.translate import parse


class EsdlEngine:
    """Loads each case's files into ``rdf_quad`` (emptied first) and answers with :class:`SparqlEngine`."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.sparql = SparqlEngine(engine, virtual=False)  # the suite's data only

    def load(self, dataset: DatasetFiles) -> None:
        """Replace the stored quads with the case's dataset."""
        with self.engine.begin() as conn:
            conn.execute(sa.text("TRUNCATE rdf_quad"))
            for i, path in enumerate(dataset.default_graph):
                load_rdf(conn, path, graph=None, source=f"default-{i}")
            for iri, path in dataset.named_graphs.items():
                load_rdf(conn, path, graph=iri, source=iri)
            for iri, path in dataset.from_graphs.items():
                if iri not in dataset.named_graphs:
                    load_rdf(conn, path, graph=iri, source=iri)

    def query(self, text: str, base: str) -> QueryOutcome:
        """Answer a query in the harness's terms."""
        result: Any = self.sparql.query(text, base=base)
        if isinstance(result, SelectResult):
            return ResultTable(tuple(result.variables), [identifiers(row) for row in result.rows], ordered=True)
        return result  # type: ignore[no-any-return]

    def check_syntax(self, text: str, base: str) -> None:
        """Raise unless ``text`` parses (rdflib's parser and algebra, as the engine uses them)."""
        parse(text, base)
