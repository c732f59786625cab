"""Shared fixtures: a real Prefect server for flow tests, and sample-data paths."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from cubes.sources import resolve_path

SAMPLE = "pkg://iris_sample_data/sample_data"


def sample_path(name: str) -> str:
    """Local path of an iris-sample-data file."""
    return resolve_path(f"{SAMPLE}/{name}")


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real temporary Prefect server (SQLite) for the whole session; yields its API URL.

    The URL is also exported as ``PREFECT_API_URL`` so subprocesses (CLI builds) report to the same server.
    """
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        url = PREFECT_API_URL.value()
        old = os.environ.get("PREFECT_API_URL")
        os.environ["PREFECT_API_URL"] = url
        try:
            yield url
        finally:
            if old is None:
                os.environ.pop("PREFECT_API_URL", None)
            else:
                os.environ["PREFECT_API_URL"] = old


@pytest.fixture
def repo_root() -> Path:
    """The repository root."""
    return Path(__file__).resolve().parent.parent
