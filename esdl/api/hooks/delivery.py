"""A delivery refused (:class:`HookError`, its HTTP answer) and a delivery's parameters: found in its body by the
hook's JSON pointers, checked with the validator Prefect's server uses."""

from __future__ import annotations

from typing import Any

from esdl.api.errors import EndpointError
from esdl.api.hooks.config import Hook


class HookError(EndpointError):
    """A delivery refused: the HTTP status, the JSON ``error`` code and the message (answered by the service's
    one error table, :func:`esdl.api.errors.error_response`)."""

    def __init__(self, status: int, code: str, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.retry_after = status, code, retry_after

    def headers(self) -> dict[str, str]:
        """``Retry-After`` where the delivery should be retried later."""
        return {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}


_MISSING = object()


def pointer(document: Any, path: str) -> Any:
    """The value at JSON pointer ``path`` (RFC 6901) in ``document``, or a marker when absent."""
    if path == "":
        return document
    if not path.startswith("/"):
        return _MISSING
    node = document
    for raw in path[1:].split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return _MISSING
    return node


def parameters_of(hook: Hook, body: dict[str, Any]) -> dict[str, Any]:
    """The run's parameters: the hook's fixed ones, and those its pointers find in the body.

    Raises:
        HookError: 422 ``parameters``: a pointer the body lacks.
    """
    out = dict(hook.defaults)
    for name, path in hook.parameters.items():
        value = pointer(body, path)
        if value is _MISSING:
            raise HookError(422, "parameters", f"the body has nothing at {path!r} (parameter {name!r})")
        out[name] = value
    return out


def parameter_validator(schema: Any) -> Any | None:
    """The validator Prefect's server checks a deployment's runs with (its preprocessed schema, its validator
    class, no format assertions), built once; ``None`` when the schema is not one (the server then checks).

    Checked with it here, a delivery's run is created with ``enforce_parameter_schema: false``: the server does not
    check the same parameters again (that check costs it about half of its CPU time for a run).
    """
    if not isinstance(schema, dict):
        return None
    from jsonschema.exceptions import SchemaError
    from prefect.utilities.schema_tools.validation import _VALIDATOR, non_fetching_registry, preprocess_schema

    prepared = preprocess_schema(schema)
    try:
        _VALIDATOR.check_schema(prepared)
    except SchemaError:
        return None
    return _VALIDATOR(prepared, registry=non_fetching_registry())


def check_parameters(validator: Any, parameters: dict[str, Any]) -> None:
    """Validate a run's ``parameters`` (the deployment's own updated with the delivery's) with ``validator``.

    Raises:
        HookError: 422 ``parameters`` naming the first failing field's path.
    """
    found = first_error(validator, parameters)
    if found is not None:
        first, count = found
        where = "/".join(str(p) for p in first.absolute_path) or "(the parameters)"
        more = f" (and {count - 1} more)" if count > 1 else ""
        raise HookError(422, "parameters", f"parameter {where}: {first.message[:300]}{more}")


def first_error(validator: Any, parameters: dict[str, Any]) -> tuple[Any, int] | None:
    """The first error (by its path in the parameters) of ``validator`` on ``parameters`` and how many there are;
    ``None`` when they are valid."""
    errors = sorted(validator.iter_errors(parameters), key=lambda e: list(e.absolute_path))
    return (errors[0], len(errors)) if errors else None


def checkable(validator: Any | None, parameters: dict[str, Any]) -> bool:
    """Whether a run's ``parameters`` (the deployment's own, updated) are checked here with the deployment's
    ``validator`` (and then not again by the server): there is one, and no placeholder only the server resolves."""
    return validator is not None and not has_placeholders(parameters)


def has_placeholders(value: Any) -> bool:
    """Whether ``value`` holds a Prefect hydration placeholder (``__prefect_kind``: a variable, a template...),
    which only the server can resolve before it checks the parameters."""
    if isinstance(value, dict):
        return "__prefect_kind" in value or any(has_placeholders(v) for v in value.values())
    if isinstance(value, list):
        return any(has_placeholders(v) for v in value)
    return False
