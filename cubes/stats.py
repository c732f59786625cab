"""Per-variable summary statistics of a cube, gathered while its regions are written.

Each written block yields, per time step, the count of valid values, their sum, sum of squares, minimum and
maximum (:func:`block_stats`). They are combined per region, stored with the region's completion record, and
combined again over all regions when the build is finalised (:func:`cube_stats`), so statistics cost no second
pass over the cube and survive a resumed build.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from cubes.plan import CubePlan

N_STATS = 5  # count, sum, sum of squares, min, max


@dataclass(frozen=True)
class VariableStats:
    """Summary of one variable: valid share, range, mean and standard deviation, best time step."""

    name: str
    units: str
    valid_fraction: float
    min: float
    max: float
    mean: float
    std: float
    best_time_index: int

    def as_row(self) -> dict[str, object]:
        """A JSON-friendly row (NaN as ``None``)."""
        return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in asdict(self).items()}


def block_stats(block: np.ndarray) -> np.ndarray:
    """``(time, N_STATS)``: count, sum, sum of squares, min and max of the valid values of each time step."""
    values = block.reshape(block.shape[0], -1).astype(np.float64)
    valid = ~np.isnan(values)
    filled = np.where(valid, values, 0.0)
    # fmin/fmax skip NaN (NaN only where every value is: steps without valid values keep NaN extremes), and, unlike
    # nanmin, do not warn: warnings.catch_warnings is not thread-safe, and blocks run in threads side by side
    lo, hi = np.fmin.reduce(values, axis=1), np.fmax.reduce(values, axis=1)
    return np.stack([valid.sum(axis=1), filled.sum(axis=1), (filled * filled).sum(axis=1), lo, hi], axis=1)


def combine_block_stats(stats: np.ndarray) -> np.ndarray:
    """Combine ``(time, by, bx, N_STATS)`` block statistics over the spatial blocks into ``(time, N_STATS)``."""
    lo, hi = np.fmin.reduce(stats[..., 3], axis=(1, 2)), np.fmax.reduce(stats[..., 4], axis=(1, 2))  # (see above)
    return np.concatenate([stats[..., :3].sum(axis=(1, 2)), lo[:, None], hi[:, None]], axis=-1)


def cube_stats(plan: CubePlan, records: dict[int, dict[str, Any]], units: dict[str, str]) -> list[VariableStats]:
    """Statistics of every variable from the regions' records (see the module documentation)."""
    nt = plan.shape[0]
    per_time = np.zeros((len(plan.variables), nt, N_STATS))
    per_time[..., 3], per_time[..., 4] = np.inf, -np.inf
    for record in records.values():
        stats = np.asarray(record["stats"], dtype=np.float64)  # (variable, time, stat)
        t0 = int(record["time0"])
        window = per_time[:, t0 : t0 + stats.shape[1]]
        window[..., :3] += np.nan_to_num(stats[..., :3])
        window[..., 3] = np.fmin(window[..., 3], stats[..., 3])
        window[..., 4] = np.fmax(window[..., 4], stats[..., 4])
    size = int(np.prod(plan.shape))
    out = []
    for k, name in enumerate(plan.variables):
        count, total, squares = per_time[k, :, 0].sum(), per_time[k, :, 1].sum(), per_time[k, :, 2].sum()
        mean = total / count if count else float("nan")
        var = max(squares / count - mean * mean, 0.0) if count else float("nan")
        lo, hi = per_time[k, :, 3].min(), per_time[k, :, 4].max()
        out.append(
            VariableStats(
                name=name,
                units=units.get(name, ""),
                valid_fraction=float(count) / size if size else 0.0,
                min=float(lo) if np.isfinite(lo) else float("nan"),
                max=float(hi) if np.isfinite(hi) else float("nan"),
                mean=float(mean),
                std=float(np.sqrt(var)),
                best_time_index=int(np.argmax(per_time[k, :, 0])),
            )
        )
    return out
