"""Loads the shared fixtures (:mod:`esdl_testing.fixtures`) and marks every test by what it needs.

The markers (declared in ``pyproject.toml``, explained in ``tests/README.md``) come from the fixtures a test uses,
directly or through other fixtures, so that a new test that asks for a database is marked ``db`` without anyone
remembering to; tests that start such a resource themselves (a CLI subprocess that starts PostgreSQL) carry the
mark explicitly.
"""

from __future__ import annotations

import pytest

pytest_plugins = [
    "esdl_testing.fixtures.browser",
    "esdl_testing.fixtures.ml",
    "esdl_testing.fixtures.postgis",
    "esdl_testing.fixtures.prefect",
    "esdl_testing.fixtures.repo",
]

# marker -> the fixtures that imply it
MARKER_FIXTURES: dict[str, frozenset[str]] = {
    "db": frozenset({"postgis_server", "catalog_url"}),
    "prefect": frozenset({"prefect_api"}),
    "browser": frozenset({"browser"}),
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        for marker, fixtures in MARKER_FIXTURES.items():
            if used & fixtures and item.get_closest_marker(marker) is None:
                item.add_marker(marker)
