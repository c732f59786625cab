"""Regridding in space (aligned coarsen or xcube resampling) and in time (bin aggregation)."""

from cubes.regrid.space import regrid_space
from cubes.regrid.time import aggregate_time

__all__ = ["aggregate_time", "regrid_space"]
