"""The network and where it runs: the only module of :mod:`cubes.ml` that imports PyTorch.

The same code runs on a CUDA device when the process has one (a worker of the ``gpu`` group, given its device
through ``CUDA_VISIBLE_DEVICES``) and on the CPU otherwise.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from cubes.errors import MissingExtraError
from cubes.ml.config import ModelConfig


def import_torch() -> ModuleType:
    """PyTorch, or a clear error saying how to install it.

    Raises:
        MissingExtraError: torch is not installed.
    """
    try:
        import torch
    except ImportError as err:
        raise MissingExtraError(
            f"the ML flows need PyTorch, which is not installed ({err}): pip install 'esdl[ml]' "
            "(CPU build: pip install torch==2.13.0; CUDA build for GPU nodes: see docs/scale-out.md)"
        ) from None
    return torch


def device_name() -> str:
    """``cuda`` when this process sees a CUDA device, else ``cpu``."""
    torch = import_torch()
    return "cuda" if torch.cuda.is_available() else "cpu"


def build_network(config: ModelConfig) -> Any:
    """A fresh MLP for ``config`` (ReLU hidden layers, one output: the target's normalised anomaly), on the CPU,
    its initial weights drawn from ``config.seed``."""
    torch = import_torch()
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(config.seed)
    try:
        layers: list[Any] = []
        width = config.n_features
        for _ in range(config.layers):
            layers += [torch.nn.Linear(width, config.hidden), torch.nn.ReLU()]
            width = config.hidden
        layers.append(torch.nn.Linear(width, 1))
        return torch.nn.Sequential(*layers)
    finally:
        torch.random.set_rng_state(generator_state)  # leave the process's random state as it was
