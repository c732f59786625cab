"""Reading the Turtle files of mappings and ontologies: the shipped ones, or given ones, into one rdflib graph."""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from rdflib import Graph

from semantic.errors import MappingError


def shipped(folder: str) -> tuple[Path, ...]:
    """The ``*.ttl`` files of a folder of the ``semantic`` package (``mappings``, ``ontology``), sorted."""
    return tuple(sorted(Path(str(resources.files("semantic") / folder)).glob("*.ttl")))


def turtle_graph(source: str | Graph, what: str, *, base: str | None = None) -> Graph:
    """``source`` itself if it is a graph, else the graph of its Turtle text.

    Raises:
        MappingError: ``the <what> text is not valid Turtle``.
    """
    if isinstance(source, Graph):
        return source
    graph = Graph()
    try:
        graph.parse(data=source, format="turtle", publicID=base)
    except Exception as err:  # rdflib raises several unrelated types for bad Turtle
        raise MappingError(f"the {what} text is not valid Turtle: {err}") from err
    return graph


def turtle_files(paths: Sequence[str | Path], what: str) -> Graph:
    """One graph of the Turtle files ``paths``.

    Raises:
        MappingError: A file is missing or is not Turtle (``<path>: cannot read the <what>``).
    """
    graph = Graph()
    for path in paths:
        try:
            graph.parse(str(path), format="turtle")
        except Exception as err:  # rdflib raises several unrelated types for bad Turtle
            raise MappingError(f"{path}: cannot read the {what}: {err}") from err
    return graph
