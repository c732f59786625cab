"""Per-variable summary statistics of a written cube, computed in one dask pass."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import dask
import numpy as np
import xarray as xr


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


def cube_stats(ds: xr.Dataset) -> list[VariableStats]:
    """Statistics of every data variable; ``best_time_index`` is the time step with most valid cells."""
    lazy = {}
    for name, var in ds.data_vars.items():
        valid = var.notnull()
        lazy[name] = (
            valid.sum(),
            var.min(),
            var.max(),
            var.mean(),
            var.std(),
            valid.sum(dim=[d for d in var.dims if d != "time"]),
        )
    (computed,) = dask.compute(lazy)
    out = []
    for name in lazy:  # in the cube's variable order
        n, vmin, vmax, mean, std, per_time = computed[name]
        size = ds[name].size
        out.append(
            VariableStats(
                name=str(name),
                units=str(ds[name].attrs.get("units", "")),
                valid_fraction=float(n) / size if size else 0.0,
                min=float(vmin),
                max=float(vmax),
                mean=float(mean),
                std=float(std),
                best_time_index=int(np.argmax(per_time.values)) if per_time.size else 0,
            )
        )
    return out
