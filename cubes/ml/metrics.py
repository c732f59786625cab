"""Scores of a forecast and of the two trivial forecasts it must beat: persistence and climatology."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, Field

from cubes.ml.features import Samples


class Scores(BaseModel):
    """Errors of one forecast over the held-out samples."""

    rmse: float = Field(description="Root mean square error, in the target's units")
    mae: float = Field(description="Mean absolute error, in the target's units")
    skill_vs_persistence: float = Field(description="1 - MSE / MSE of persistence (above 0: better)")
    skill_vs_climatology: float = Field(description="1 - MSE / MSE of climatology (above 0: better)")


class ValidationMetrics(BaseModel):
    """The model's and the baselines' scores on the held-out period."""

    samples: int = Field(description="Held-out samples (cells x steps with data)")
    period: tuple[str, str] = Field(description="First and last held-out time step")
    model: Scores
    persistence: Scores
    climatology: Scores

    def table(self) -> list[dict[str, object]]:
        """One row per forecast (model, persistence, climatology), for a table artifact."""
        return [
            {"forecast": name, **getattr(self, name).model_dump(), "samples": self.samples}
            for name in ("model", "persistence", "climatology")
        ]


def _mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((a.astype(np.float64) - b) ** 2))


def scores(predicted: np.ndarray, samples: Samples) -> Scores:
    """The scores of ``predicted`` against ``samples``' observed target."""
    observed = samples.observed.astype(np.float64)
    mse = _mse(predicted, observed)
    return Scores(
        rmse=round(float(np.sqrt(mse)), 6),
        mae=round(float(np.mean(np.abs(predicted - observed))), 6),
        skill_vs_persistence=round(1 - mse / _mse(samples.persistence, observed), 6),
        skill_vs_climatology=round(1 - mse / _mse(samples.climatology, observed), 6),
    )


def validation_metrics(predicted: np.ndarray, samples: Samples, times: np.ndarray) -> ValidationMetrics:
    """The model's (``predicted``) and both baselines' scores on the held-out ``samples``."""
    steps = times[samples.step]
    return ValidationMetrics(
        samples=int(samples.x.shape[0]),
        period=(str(steps.min())[:10], str(steps.max())[:10]),
        model=scores(predicted, samples),
        persistence=scores(samples.persistence, samples),
        climatology=scores(samples.climatology, samples),
    )
