"""Building the demo cube is quiet and its graphs are small: no RuntimeWarning for all-missing blocks, and no
source or result data embedded in a task graph (distributed warns about graphs over 10 MB, and sends them to
the scheduler with every batch)."""

from __future__ import annotations

import warnings
from pathlib import Path

import dask
from distributed.protocol import pickle

from cubes.assemble import build_cube
from cubes.spec import load_spec

DEMO = Path(__file__).resolve().parents[2] / "cubes" / "specs" / "demo.yaml"


def test_demo_cube_is_quiet_and_its_graphs_embed_no_data() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        cube = build_cube(load_spec(DEMO))
        for name, variable in cube.data_vars.items():
            size = len(pickle.dumps(dict(variable.data.__dask_graph__())))  # as distributed sends it
            assert size < 1_000_000, f"{name}: graph of {size / 2**20:.1f} MiB"
        with dask.config.set(scheduler="threads"):
            values = {name: v.values for name, v in cube.isel(time=slice(0, 12)).data_vars.items()}
    assert all(v.shape[0] == 12 for v in values.values())
