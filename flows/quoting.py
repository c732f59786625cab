"""Task arguments Prefect passes through as they are."""

from __future__ import annotations

from typing import TypeVar, cast

from prefect.utilities.annotations import quote

T = TypeVar("T")


def as_is(value: T) -> T:
    """``value`` wrapped so that Prefect does not walk it looking for futures (a dataset, a plan with arrays).

    Prefect unwraps the annotation before the task runs, so the task receives ``value`` itself; the cast only
    tells the type checker so.
    """
    return cast(T, quote(value))
