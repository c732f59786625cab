"""The ``esdl`` command line as a separate process (``python -m esdl``), run from the repository root."""

from __future__ import annotations

import subprocess
import sys

from esdl_testing.paths import REPO_ROOT


def run_esdl(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``esdl ARGS`` to completion with the current interpreter; ``env`` replaces the environment if given.

    Never raises for a non-zero exit status: the tests look at ``returncode``, ``stdout`` and ``stderr``.
    """
    return subprocess.run(
        [sys.executable, "-m", "esdl", *args], cwd=REPO_ROOT, capture_output=True, text=True, env=env, check=False
    )
