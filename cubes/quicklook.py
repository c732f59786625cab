"""Quicklook PNGs: one map per variable at its best-covered time step."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from cubes.stats import VariableStats


def write_quicklooks(ds: xr.Dataset, stats: list[VariableStats], folder: Path) -> dict[str, Path]:
    """Render a PNG per variable into ``folder``; return the paths by variable name.

    Figures are made without pyplot (no global state: safe in concurrent builds; a lighter import), as matplotlib
    advises for servers.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for st in stats:
        var = ds[st.name]
        field = var.isel(time=st.best_time_index).values
        ydim, xdim = str(var.dims[1]), str(var.dims[2])
        fig = Figure(figsize=(6, 4), dpi=100)
        FigureCanvasAgg(fig)
        # fixed margins, room for the tick labels, titles and the colour bar of this one layout (tight_layout
        # measured every text of the figure again: a third of the quicklook's time)
        fig.subplots_adjust(left=0.12, right=0.98, bottom=0.12, top=0.92)
        ax = fig.subplots()
        x, y = ds[xdim].values, ds[ydim].values
        mesh = ax.pcolormesh(x, y, np.ma.masked_invalid(field), shading="nearest", cmap="viridis")
        fig.colorbar(mesh, ax=ax, label=f"{st.name} [{st.units}]")
        stamp = np.datetime_as_string(ds["time"].values[st.best_time_index], unit="D")
        ax.set_title(f"{st.name} — {stamp}")
        ax.set_xlabel(xdim)
        ax.set_ylabel(ydim)
        path = folder / f"{st.name}.png"
        fig.savefig(path)
        paths[st.name] = path
    return paths
