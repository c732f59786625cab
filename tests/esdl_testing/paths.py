"""Where things are: the repository root and the test folders, independent of the current directory."""

from __future__ import annotations

from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parent.parent
"""The ``tests`` folder."""

REPO_ROOT = TESTS_DIR.parent
"""The repository root (holds ``pyproject.toml``)."""

CONFORMANCE_DIR = TESTS_DIR / "conformance"
"""The conformance tests and their data: ``data/w3c-sparql11``, ``geosparql/<case>``, ``golden/<case>.rq``."""
