"""What is read from a result notebook: the author's own cells (without papermill's), the failing cell, the
figures as PNG files, the recorded values, and the HTML rendering."""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass
from typing import Any

from nbrun.location import RunLocation
from nbrun.record import read_records

PAPERMILL_TAGS = frozenset({"injected-parameters", "papermill-error-cell-tag"})
"""Cells papermill adds to a result notebook: the injected parameters, and the error markers of a failed run."""


def user_cells(notebook: Any) -> list[Any]:
    """The result notebook's cells that the notebook's author wrote, in order: index ``i`` here is cell ``i`` of
    the notebook as written."""
    return [c for c in notebook.cells if not PAPERMILL_TAGS & set(c.get("metadata", {}).get("tags", []))]


def failing_cell(notebook: Any) -> tuple[int, Any] | None:
    """The cell a failed run stopped in, by its index in the notebook as written: the one papermill marked as
    raising, else the last one that started (a timeout, a dead kernel); ``None`` when none started."""
    cells = user_cells(notebook)
    for index, cell in enumerate(cells):
        if cell.get("metadata", {}).get("papermill", {}).get("exception"):
            return index, cell
    started = [(i, c) for i, c in enumerate(cells) if c.get("metadata", {}).get("papermill", {}).get("start_time")]
    return started[-1] if started else None


@dataclass(frozen=True)
class Outputs:
    """Where a run's rendering and figures went, and the values it recorded."""

    html: str
    figures: list[str]
    records: dict[str, Any]


_exporters = threading.local()


def render_html(notebook: Any) -> str:
    """The result ``notebook`` as one HTML page (nbconvert's ``lab`` template).

    One exporter per thread, kept: a new one compiles its Jinja templates again at its first page (measured: 0.25 s
    for the first page, 0.14 s for the next ones of a 20-cell notebook).
    """
    exporter = getattr(_exporters, "html", None)
    if exporter is None:
        from nbconvert import HTMLExporter

        exporter = _exporters.html = HTMLExporter()
    html, _ = exporter.from_notebook_node(notebook)
    return str(html)


def render_outputs(notebook: Any, location: RunLocation) -> Outputs:
    """Write ``result.html``, ``figures/cell<i>-<k>.png`` (``i``: the cell as written) and ``records.json`` of the
    result ``notebook`` into ``location``."""
    html = render_html(notebook)
    page = location.local / "result.html"
    page.write_text(html, encoding="utf-8")
    figures = []
    for index, cell in enumerate(user_cells(notebook)):
        pngs = [o["data"]["image/png"] for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]
        for k, data in enumerate(pngs):
            path = location.local / "figures" / f"cell{index:02d}-{k}.png"
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(base64.b64decode(data))
            figures.append(location.url_for(path))
    records = read_records(notebook)
    (location.local / "records.json").write_text(json.dumps(records, indent=2))
    return Outputs(html=location.url_for(page), figures=figures, records=records)
