"""A trained model on disk: weights, config, input normalisation, climatology, grid, the training cube's
fingerprint and the validation metrics, in one run-specific folder that appears whole or not at all.

Layout::

    <models>/<run>/model.pt          the network's state_dict
    <models>/<run>/model.json        SavedModelInfo: config, normalisation, grid, fingerprint, metrics...
    <models>/<run>/climatology.npz   each variable's training climatology, (12, lat, lon)
    <models>/.<run>.partial/         the run while it trains (checkpoint.pt after every epoch)

The folder is written as ``.<run>.partial`` and renamed to ``<run>`` once complete (``rename(2)`` is atomic).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from cubes.errors import ModelError, ModelMismatchError
from cubes.ml.config import ModelConfig
from cubes.ml.features import CubeFields
from cubes.ml.metrics import ValidationMetrics
from cubes.ml.network import build_network, import_torch

INFO = "model.json"
WEIGHTS = "model.pt"
CLIMATOLOGY = "climatology.npz"


class Normalisation(BaseModel):
    """Means and standard deviations of the inputs and of the target's anomaly, over the training samples."""

    x_mean: list[float]
    x_std: list[float]
    y_mean: float
    y_std: float

    @classmethod
    def of(cls, x: np.ndarray, y: np.ndarray) -> Normalisation:
        """The statistics of training inputs ``x`` and targets ``y`` (a constant column gets a std of 1)."""
        std = x.std(axis=0, dtype=np.float64)
        y_std = float(y.std(dtype=np.float64))
        return cls(
            x_mean=x.mean(axis=0, dtype=np.float64).tolist(),
            x_std=np.where(std > 0, std, 1.0).tolist(),
            y_mean=float(y.mean(dtype=np.float64)),
            y_std=y_std if y_std > 0 else 1.0,
        )

    def inputs(self, x: np.ndarray) -> np.ndarray:
        """``x`` normalised (float32)."""
        return ((x - np.asarray(self.x_mean)) / np.asarray(self.x_std)).astype(np.float32)

    def target(self, y: np.ndarray) -> np.ndarray:
        """The target's anomaly ``y`` normalised (float32)."""
        return ((y - self.y_mean) / self.y_std).astype(np.float32)

    def anomaly(self, out: np.ndarray) -> np.ndarray:
        """The network's output back in the target's units."""
        return out.astype(np.float64) * self.y_std + self.y_mean


class SavedModelInfo(BaseModel):
    """What ``model.json`` holds."""

    run: str = Field(description="The run that trained the model (its folder's name)")
    config: ModelConfig
    normalisation: Normalisation
    fill_limits: dict[str, int] = Field(description="Steps each variable is carried forward over its gaps")
    lat: list[float] = Field(description="The training cube's latitudes")
    lon: list[float] = Field(description="The training cube's longitudes")
    period: str | None = Field(description="The training cube's time step (time_coverage_resolution)")
    units: dict[str, str] = Field(description="Units of each variable")
    cube: str = Field(description="The training cube's location")
    cube_fingerprint: str | None = Field(description="The training cube's spec fingerprint (esdl_spec_fingerprint)")
    holdout_start: str = Field(description="First held-out time step")
    metrics: ValidationMetrics
    device: str = Field(description="Where it was trained: cpu or cuda")
    epochs: int = Field(description="Epochs trained")
    samples_per_s: float = Field(description="Training samples per second of the last (possibly resumed) attempt")


@dataclass(frozen=True)
class SavedModel:
    """A model loaded from its folder, ready to predict on the CPU or the process's CUDA device."""

    path: Path
    info: SavedModelInfo
    network: Any
    climatology: dict[str, np.ndarray]

    def predict_anomaly(self, x: np.ndarray, batch: int = 65536) -> np.ndarray:
        """The target's anomaly predicted from raw (unnormalised) inputs ``x`` of shape ``(n, n_features)``."""
        torch = import_torch()
        device = next(self.network.parameters()).device
        out = np.empty(x.shape[0], np.float64)
        with torch.no_grad():
            for i in range(0, x.shape[0], batch):
                xb = torch.from_numpy(self.info.normalisation.inputs(x[i : i + batch])).to(device)
                out[i : i + batch] = self.info.normalisation.anomaly(self.network(xb).squeeze(1).cpu().numpy())
        return out

    def check_fits(self, fields: CubeFields, where: str) -> None:
        """Raise if the cube read into ``fields`` is not on the model's grid or time step.

        Raises:
            ModelMismatchError: Another grid or time step; the message says which.
        """
        lat, lon = np.asarray(self.info.lat), np.asarray(self.info.lon)
        if fields.lat.shape != lat.shape or fields.lon.shape != lon.shape:
            raise ModelMismatchError(
                f"{where}: grid {fields.lat.size}x{fields.lon.size} (lat x lon) differs from the model's "
                f"{lat.size}x{lon.size} (trained on {self.info.cube})"
            )
        if not (np.allclose(fields.lat, lat) and np.allclose(fields.lon, lon)):
            raise ModelMismatchError(
                f"{where}: grid coordinates differ from the model's: lat {fields.lat[0]}..{fields.lat[-1]}, lon "
                f"{fields.lon[0]}..{fields.lon[-1]} against lat {lat[0]}..{lat[-1]}, lon {lon[0]}..{lon[-1]}"
            )
        if fields.period != self.info.period:
            raise ModelMismatchError(
                f"{where}: time step {fields.period!r} differs from the model's {self.info.period!r}"
            )


def write_model(folder: Path, info: SavedModelInfo, network: Any, climatology: dict[str, np.ndarray]) -> None:
    """Write the model's files into ``folder`` (the run's staging folder)."""
    torch = import_torch()
    torch.save({k: v.detach().cpu() for k, v in network.state_dict().items()}, folder / WEIGHTS)
    np.savez(folder / CLIMATOLOGY, **climatology)  # type: ignore[arg-type]  # numpy's stub types **kwds badly
    (folder / INFO).write_text(info.model_dump_json(indent=1))


def publish_model(staging: Path, final: Path) -> Path:
    """Rename the complete ``staging`` folder to ``final`` (atomic); return ``final``."""
    os.rename(staging, final)
    return final


def read_info(folder: str | Path) -> SavedModelInfo:
    """The ``model.json`` of a saved model.

    Raises:
        ModelError: ``folder`` is not a complete saved model.
    """
    path = Path(folder) / INFO
    try:
        return SavedModelInfo.model_validate(json.loads(path.read_text()))
    except (OSError, ValueError) as err:
        raise ModelError(f"{folder}: not a saved model ({err})") from None


def load_model(folder: str | Path, device: str | None = None) -> SavedModel:
    """Load the model saved in ``folder`` onto ``device`` (default: CUDA when present, else CPU).

    Raises:
        ModelError: ``folder`` is not a complete saved model.
    """
    torch = import_torch()
    folder = Path(folder)
    info = read_info(folder)
    network = build_network(info.config)
    try:
        network.load_state_dict(torch.load(folder / WEIGHTS, map_location="cpu", weights_only=True))
        with np.load(folder / CLIMATOLOGY) as npz:
            clim = {k: npz[k] for k in npz.files}
    except (OSError, RuntimeError, ValueError) as err:
        raise ModelError(f"{folder}: cannot load the model ({err})") from None
    network.eval()
    network.to(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    return SavedModel(folder, info, network, clim)
