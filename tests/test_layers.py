"""The libraries never import prefect, and ship their type information."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def library_modules(package: str) -> list[str]:
    return sorted(
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for p in (ROOT / package).rglob("*.py")
        if "migrations" not in p.parts  # Alembic scripts, run by Alembic inside a migration context
    )


@pytest.mark.parametrize("package", ["cubes", "semantic"])
def test_library_does_not_import_prefect(package: str) -> None:
    modules = library_modules(package)
    assert modules
    code = (
        "import importlib, sys\n"
        + "".join(f"importlib.import_module({m!r})\n" for m in modules)
        + (
            "bad = sorted(m for m in sys.modules if m == 'prefect' or m.startswith('prefect.'))\n"
            "print(bad[:5]); sys.exit(1 if bad else 0)\n"
        )
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize("package", ["cubes", "semantic"])
def test_library_is_typed(package: str) -> None:
    assert (ROOT / package / "py.typed").exists()
