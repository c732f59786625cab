"""Values a notebook records for the platform: ``record(name, value)`` in a cell, read back from the result.

A recorded value is a display output of its own media type (:data:`MIME`) in the cell that recorded it, so it
lives in the result notebook with everything else the run produced, and nothing else (no side file, no server)
is needed to read it back. A ``text/plain`` form goes along, so Jupyter shows ``name = value`` where a value was
recorded.
"""

from __future__ import annotations

import json
import math
from typing import Any

MIME = "application/vnd.esdl.record+json"
"""The media type of a recorded value's display output: ``{"name": ..., "value": ...}``."""


def _plain(value: Any) -> Any:
    """``value`` as plain JSON types (numpy and pandas scalars, arrays and timestamps included)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "isoformat"):  # datetime, date, pandas.Timestamp
        return value.isoformat()
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return _plain(value.tolist())
    if hasattr(value, "item"):
        return _plain(value.item())
    raise TypeError(f"record: a {type(value).__name__} is not a JSON value (numbers, text, lists, mappings)")


def record(name: str, value: Any) -> None:
    """Record ``value`` under ``name`` for the platform (the run's table of values); call it in a notebook cell.

    Args:
        name: The value's name; a later record of the same name wins.
        value: A JSON value: a number, text, a boolean, ``None``, or lists and mappings of them (numpy and pandas
            scalars and arrays, and timestamps, are converted; NaN and infinities become ``None``).

    Raises:
        TypeError: ``value`` cannot be made a JSON value.
        ValueError: ``name`` is empty.
    """
    from IPython.display import display

    if not isinstance(name, str) or not name:
        raise ValueError("record: the name must be non-empty text")
    plain = _plain(value)
    json.dumps(plain)  # anything left that JSON cannot hold fails here, in the cell that recorded it
    display({MIME: {"name": name, "value": plain}, "text/plain": f"{name} = {plain!r}"}, raw=True)


def read_records(notebook: Any) -> dict[str, Any]:
    """The values recorded in an executed notebook (an nbformat node), by name, in the order recorded."""
    found: dict[str, Any] = {}
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if output.get("output_type") in ("display_data", "execute_result") and MIME in data:
                item = data[MIME]
                found.pop(item["name"], None)
                found[item["name"]] = item["value"]
    return found
