"""CUDA devices of this machine, found without importing torch or CUDA (no Prefect here).

The local backend hands each GPU worker its own devices through ``CUDA_VISIBLE_DEVICES``; this module says which
devices there are. ``ESDL_GPU_DEVICES`` overrides the detection (``""``: none; ``"0,1"``: these), which is how
tests and operators pin it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

DEVICES_ENV = "ESDL_GPU_DEVICES"
"""Environment variable overriding the detection: a comma-separated list of device indices, empty for none."""

_PROC_GPUS = Path("/proc/driver/nvidia/gpus")


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def detect_gpus() -> list[str]:
    """The CUDA device indices (as strings) this process may hand out, in order.

    ``ESDL_GPU_DEVICES`` wins; then a ``CUDA_VISIBLE_DEVICES`` already set for this process (its entries are what
    the process may use); then the NVIDIA driver's ``/proc`` entries; then ``nvidia-smi -L``. No driver: none.
    """
    if DEVICES_ENV in os.environ:
        return _split(os.environ[DEVICES_ENV])
    if "CUDA_VISIBLE_DEVICES" in os.environ:
        return _split(os.environ["CUDA_VISIBLE_DEVICES"])
    if _PROC_GPUS.is_dir():
        n = sum(1 for _ in _PROC_GPUS.iterdir())
        if n:
            return [str(i) for i in range(n)]
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):  # a wedged driver must not hang the cluster's start
        return []
    return [str(i) for i, line in enumerate(ln for ln in out.splitlines() if ln.startswith("GPU "))]
