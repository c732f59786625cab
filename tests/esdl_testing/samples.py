"""The iris-sample-data files the tests read (real data, installed as a package)."""

from __future__ import annotations

from cubes.sources import resolve_path

SAMPLE = "pkg://iris_sample_data/sample_data"


def sample_path(name: str) -> str:
    """Local path of an iris-sample-data file."""
    return resolve_path(f"{SAMPLE}/{name}")
