"""Training: samples from the cube, a seeded MLP, a checkpoint after every epoch, validation on the held-out
period against persistence and climatology, the model saved whole.

A run is identified by its folder ``<models>/<run>``: while it trains it is ``<models>/.<run>.partial`` with
``checkpoint.pt`` (weights, optimiser state, epochs done), so a rerun of the same run (a Dask task retried after
its worker died) continues from the last finished epoch; the shuffling of each epoch is drawn from the seed and
the epoch's number, so an interrupted and resumed run trains exactly as an uninterrupted one.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cubes.errors import ModelError
from cubes.ml.config import ModelConfig
from cubes.ml.features import CubeFields, Samples, build_samples, climatology, holdout_index, read_fields
from cubes.ml.metrics import validation_metrics
from cubes.ml.network import build_network, device_name, import_torch
from cubes.ml.saved import Normalisation, SavedModelInfo, publish_model, read_info, write_model

CHECKPOINT = "checkpoint.pt"


@dataclass(frozen=True)
class TrainingData:
    """A cube's samples split into training and held-out rows, with what the split needs to be repeated."""

    fields: CubeFields
    climatology: dict[str, np.ndarray]
    holdout: int
    train: Samples
    valid: Samples
    normalisation: Normalisation


def prepare(cube: str | Path, config: ModelConfig) -> TrainingData:
    """Read ``cube`` and build the training and held-out samples of ``config``.

    Raises:
        ModelMismatchError: The cube lacks a variable of the model.
        ModelError: Too little data for training or validation.
    """
    fields = read_fields(cube, config)
    first = holdout_index(fields, config)
    clim = {v: climatology(fields.filled[v], fields.months, first) for v in config.variables}
    steps = np.arange(fields.times.size)
    train = build_samples(fields, config, clim, steps[:first], need_target=True)
    valid = build_samples(fields, config, clim, steps[first:], need_target=True)
    if not train.x.shape[0] or not valid.x.shape[0]:
        raise ModelError(
            f"{cube}: {train.x.shape[0]} training and {valid.x.shape[0]} held-out samples with every input present "
            f"(variables {list(config.variables)}, lags {config.lags}); both must be above 0"
        )
    return TrainingData(fields, clim, first, train, valid, Normalisation.of(train.x, train.anomaly))


@dataclass(frozen=True)
class TrainResult:
    """A finished training run."""

    model: Path
    info: SavedModelInfo
    resumed_from_epoch: int
    """Epochs found in the checkpoint when this attempt started (0: a fresh start)."""


def train(
    cube: str | Path,
    config: ModelConfig,
    models: str | Path,
    run: str,
    log: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train ``config`` on ``cube`` and save the model as ``<models>/<run>``; a finished run is returned as is.

    Args:
        cube: The training cube (an esdl cube on a lat/lon grid).
        config: The model and its training settings.
        models: Folder of the saved models.
        run: The run's name (a folder name; the flow uses its flow run's id).
        log: Called with a line per epoch.

    Raises:
        ModelError: Too little data, or a checkpoint or model of another config under the same run.
    """
    say = log or (lambda _line: None)
    final = Path(models) / run
    if (final / "model.json").exists():
        info = read_info(final)
        if info.config != config:
            raise ModelError(f"run {run} was trained with another model config ({final}); choose another run name")
        say(f"run {run} is already trained: {final}")
        return TrainResult(final, info, resumed_from_epoch=config.epochs)
    staging = Path(models) / f".{run}.partial"
    staging.mkdir(parents=True, exist_ok=True)
    torch = import_torch()
    data = prepare(cube, config)
    device = device_name()
    network = build_network(config).to(device)
    optimiser = torch.optim.Adam(network.parameters(), lr=config.learning_rate)
    done = _resume(staging / CHECKPOINT, config, network, optimiser, device)
    if done:
        say(f"resuming run {run} after epoch {done} of {config.epochs}")
    x = torch.from_numpy(data.normalisation.inputs(data.train.x)).to(device)
    y = torch.from_numpy(data.normalisation.target(data.train.anomaly)).to(device)
    x_valid = data.valid.x
    started = time.perf_counter()
    for epoch in range(done, config.epochs):
        loss = _epoch(torch, network, optimiser, x, y, config, epoch)
        _save_checkpoint(torch, staging / CHECKPOINT, config, network, optimiser, epoch + 1)
        rmse = _valid_rmse(network, data, x_valid)
        say(f"epoch {epoch + 1}/{config.epochs}: training loss {loss:.4f}, held-out RMSE {rmse:.4f} on {device}")
    seconds = time.perf_counter() - started
    samples_per_s = x.shape[0] * (config.epochs - done) / seconds if seconds > 0 else 0.0
    network.eval()
    predicted = data.valid.climatology + _anomaly(network, data, x_valid)
    info = SavedModelInfo(
        run=run,
        config=config,
        normalisation=data.normalisation,
        fill_limits=data.fields.fill_limits,
        lat=data.fields.lat.tolist(),
        lon=data.fields.lon.tolist(),
        period=data.fields.period,
        units=data.fields.units,
        cube=str(cube),
        cube_fingerprint=data.fields.fingerprint,
        holdout_start=str(data.fields.times[data.holdout])[:10],
        metrics=validation_metrics(predicted, data.valid, data.fields.times),
        device=device,
        epochs=config.epochs,
        samples_per_s=round(samples_per_s, 1),
    )
    write_model(staging, info, network, data.climatology)
    (staging / CHECKPOINT).unlink(missing_ok=True)
    return TrainResult(publish_model(staging, final), info, resumed_from_epoch=done)


def _epoch(torch: Any, network: Any, optimiser: Any, x: Any, y: Any, config: ModelConfig, epoch: int) -> float:
    """One pass over the samples in an order drawn from the seed and the epoch; the mean training loss."""
    network.train()
    order = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(config.seed * 100_003 + epoch))
    order = order.to(x.device)
    total = 0.0
    for i in range(0, x.shape[0], config.batch_size):
        rows = order[i : i + config.batch_size]
        optimiser.zero_grad()
        loss = torch.nn.functional.mse_loss(network(x[rows]).squeeze(1), y[rows])
        loss.backward()
        optimiser.step()
        total += float(loss.detach()) * rows.shape[0]
    return total / x.shape[0]


def _anomaly(network: Any, data: TrainingData, x: np.ndarray) -> np.ndarray:
    torch = import_torch()
    device = next(network.parameters()).device
    with torch.no_grad():
        out = network(torch.from_numpy(data.normalisation.inputs(x)).to(device)).squeeze(1).cpu().numpy()
    return data.normalisation.anomaly(out)


def _valid_rmse(network: Any, data: TrainingData, x: np.ndarray) -> float:
    network.eval()
    error = _anomaly(network, data, x) - data.valid.anomaly
    return float(np.sqrt(np.mean(error**2)))


def _save_checkpoint(torch: Any, path: Path, config: ModelConfig, network: Any, optimiser: Any, epochs: int) -> None:
    """Write the checkpoint so that it is whole or absent (a worker may die while writing it)."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(
        {
            "config": config.model_dump(mode="json"),
            "epochs": epochs,
            "network": network.state_dict(),
            "optimiser": optimiser.state_dict(),
        },
        tmp,
    )
    os.replace(tmp, path)


def _resume(path: Path, config: ModelConfig, network: Any, optimiser: Any, device: str) -> int:
    """Load ``path`` into ``network`` and ``optimiser`` if it exists; return the epochs it holds."""
    if not path.exists():
        return 0
    torch = import_torch()
    state = torch.load(path, map_location=device, weights_only=True)
    if state["config"] != config.model_dump(mode="json"):
        raise ModelError(f"{path}: a checkpoint of another model config; remove {path.parent} or use another run")
    network.load_state_dict(state["network"])
    optimiser.load_state_dict(state["optimiser"])
    return int(state["epochs"])
