"""A notebook's parameters, read with papermill's inspection of its ``parameters`` cell, and the checks every
run's values pass before a kernel is started.

A parameter's type is its annotation in the parameters cell (``year: int = 2010``), or else the type of its
default (``year = 2010`` is an ``int``; a default of ``None`` or an expression accepts any JSON value). Values are
checked strictly: ``"2010"`` is not an ``int``, ``1`` is not a ``bool``; an ``int`` is taken for a ``float``.
"""

from __future__ import annotations

import ast
import json
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, TypeAdapter, ValidationError

from nbrun.errors import ParameterError

_TYPE_NAMES: dict[str, Any] = {
    "int": int,
    "float": float,
    "str": str,
    "bool": bool,
    "list": list,
    "dict": dict,
    "tuple": tuple,
    "None": None,
    "Any": Any,
    "Optional": typing.Optional,
    "Union": typing.Union,
    "List": list,
    "Dict": dict,
}
_STRICT = ConfigDict(strict=True)


@dataclass(frozen=True)
class Parameter:
    """One parameter of a notebook's parameters cell.

    Attributes:
        name: The variable's name.
        annotation: Its type as text (``int``, ``list[str]``...; ``any`` when nothing tells).
        default: The default's source text.
        help: The comment after it in the cell.
    """

    name: str
    annotation: str
    default: str
    help: str = ""

    def python_type(self) -> Any:
        """The annotation as a Python type (``Any`` when it is not one this module reads)."""
        if self.annotation == "any":
            return Any
        try:
            return eval(self.annotation, {"__builtins__": {}}, _TYPE_NAMES)  # names of the table above only
        except Exception:
            return Any

    def check(self, value: Any) -> Any:
        """``value`` checked against the parameter's type (an ``int`` made a ``float`` where one is declared).

        Raises:
            ParameterError: It is not of that type, or not a JSON value; the message names the parameter.
        """
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            raise ParameterError(
                f"parameter {self.name!r}: a {type(value).__name__} is not a JSON value (numbers, text, lists, maps)"
            ) from None
        try:
            return TypeAdapter(self.python_type(), config=_STRICT).validate_python(value)
        except ValidationError:
            raise ParameterError(
                f"parameter {self.name!r}: expected {self.annotation}, got {type(value).__name__} {value!r}"
            ) from None
        except Exception:  # an annotation pydantic cannot check: only the JSON check above applies
            return value

    def parse(self, text: str) -> Any:
        """``text`` from a command line as this parameter's value: as it is for text parameters, JSON otherwise
        (``2010``, ``0.5``, ``true``, ``[1, 2]``, ``{"a": 1}``); text that is not JSON is taken as text where any
        value is accepted.

        Raises:
            ParameterError: Not JSON where a number, boolean, list or mapping is expected, or not of its type.
        """
        tp = self.python_type()
        if tp is str or tp == (str | None):
            return text
        try:
            value = json.loads(text)
        except ValueError:
            if tp is Any:
                return text
            raise ParameterError(
                f"parameter {self.name!r}: {text!r} is not valid JSON for type {self.annotation}"
            ) from None
        return self.check(value)


def _annotation(inferred: str, default: str) -> str:
    """The declared annotation, or the type of the literal default (``any`` for ``None`` and expressions)."""
    if inferred and inferred != "None":
        return inferred
    try:
        value = ast.literal_eval(default)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return "any"
    if value is None:
        return "any"
    return type(value).__name__ if type(value) in (bool, int, float, str, list, dict) else "any"


def inspect_parameters(path: str | Path) -> dict[str, Parameter]:
    """The parameters declared by the notebook's ``parameters`` cell (papermill's inspection), by name; empty when
    it has no such cell."""
    import papermill

    found = papermill.inspect_notebook(str(path))
    return {
        name: Parameter(
            name=name,
            annotation=_annotation(str(info.get("inferred_type_name") or ""), str(info.get("default") or "None")),
            default=str(info.get("default")),
            help=str(info.get("help") or ""),
        )
        for name, info in found.items()
    }


def validate_parameters(declared: dict[str, Parameter], given: dict[str, Any], notebook: str) -> dict[str, Any]:
    """``given`` checked against the notebook's ``declared`` parameters; returns the values to inject.

    Raises:
        ParameterError: A name the notebook does not declare, or a value of the wrong type; the message names it.
    """
    for name in given:
        if name not in declared:
            known = (
                f"it declares {', '.join(declared)}"
                if declared
                else "it has no parameters (no cell tagged 'parameters')"
            )
            raise ParameterError(f"unknown parameter {name!r} for {notebook}: {known}")
    return {name: declared[name].check(value) for name, value in given.items()}


def parse_assignments(declared: dict[str, Parameter], pairs: list[tuple[str, str]], notebook: str) -> dict[str, Any]:
    """``NAME VALUE`` pairs from a command line as parameter values, each read as its parameter's type.

    Raises:
        ParameterError: An unknown name, or a value that is not of its parameter's type.
    """
    values: dict[str, Any] = {}
    for name, text in pairs:
        if name not in declared:
            validate_parameters(declared, {name: text}, notebook)  # raises, naming what it declares
        values[name] = declared[name].parse(text)
    return values
