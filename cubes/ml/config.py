"""What a model is: its target, inputs, lags, architecture and training settings."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cubes.errors import ModelError
from cubes.spec import _format_error as format_validation_error


class ModelConfig(BaseModel):
    """A next-step forecast of ``target`` from the previous ``lags`` steps of the target and ``inputs``.

    Each sample is one cell and one time step ``t``: the anomalies (from the training period's monthly
    climatology of the cell) of every variable at ``t-1 .. t-lags`` (an input missing at a cell counts as its
    climatology, and a flag says so), the month of ``t`` (as sine and cosine) and
    the target's climatology at ``t``; the network predicts the target's anomaly at ``t``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    target: str = Field(default="sst", description="Variable to predict")
    inputs: tuple[str, ...] = Field(
        default=("air_temperature",), description="Other variables whose previous steps are inputs"
    )
    lags: int = Field(default=3, ge=1, le=24, description="Previous time steps of each variable used")
    hidden: int = Field(default=64, ge=1, description="Units of each hidden layer")
    layers: int = Field(default=2, ge=1, le=8, description="Hidden layers of the MLP")
    epochs: int = Field(default=4, ge=1, description="Passes over the training samples")
    batch_size: int = Field(default=512, ge=1, description="Samples per optimiser step")
    learning_rate: float = Field(default=1e-3, gt=0, description="Adam's learning rate")
    seed: int = Field(default=0, description="Seed of the initial weights and of the shuffling")
    holdout_start: dt.date | None = Field(
        default=None,
        description="Time steps from this date on are held out for validation; default: the last holdout_steps "
        "steps where the target has data",
    )
    holdout_steps: int = Field(default=12, ge=1, description="Held-out steps when holdout_start is not given")

    @model_validator(mode="after")
    def _check(self) -> ModelConfig:
        if self.target in self.inputs:
            raise ValueError(f"inputs: the target {self.target!r} is always an input; do not list it")
        if len(set(self.inputs)) != len(self.inputs):
            raise ValueError(f"inputs repeat: {list(self.inputs)}")
        return self

    @property
    def variables(self) -> tuple[str, ...]:
        """The cube variables read: the target first, then the inputs."""
        return (self.target, *self.inputs)

    @property
    def n_features(self) -> int:
        """Inputs of the network: lags of every variable, a presence flag of each input, month sine and cosine,
        the target's climatology."""
        return self.lags * len(self.variables) + len(self.inputs) + 3


def parse_config(fields: Mapping[str, Any]) -> ModelConfig:
    """A validated :class:`ModelConfig` from its fields.

    Raises:
        ModelError: A field is invalid; the message names it.
    """
    try:
        return ModelConfig.model_validate(dict(fields))
    except ValidationError as err:
        raise ModelError(f"invalid model config: {format_validation_error(err)}") from None
