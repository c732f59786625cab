"""Vector features derived from a cube: connected regions where a variable passes a threshold.

Each time step's mask is labelled into 4-connected components (scipy), and the label image is polygonised by
GDAL through ``rasterio.features.shapes`` with the same connectivity, so that every component becomes exactly
one feature. Components are numbered by their first cell in the dataset's row-major order, which makes the
numbering identical on every rerun.
"""

from __future__ import annotations

import operator
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import dask
import numpy as np
import pyproj
import shapely
import xarray as xr
from dask.delayed import Delayed
from rasterio.errors import NotGeoreferencedWarning
from rasterio.features import shapes
from scipy import ndimage

from cubes.errors import SpecError, ZonalError
from cubes.gridgeometry import GridGeometry
from cubes.zonal import time_blocks

# shapes() is given the grid's transform; the in-memory GDAL copy of the mask it reads has none, which GDAL
# reports from worker threads (a filter, not catch_warnings: that is not thread-safe)
warnings.filterwarnings("ignore", category=NotGeoreferencedWarning, module=r"rasterio\.features")

_FOUR_CONNECTED = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]])
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_THRESHOLD = re.compile(rf"^\s*([A-Za-z_][\w.-]*)\s*:\s*(>=|<=|>|<)?\s*({_NUMBER})\s*$")


@dataclass(frozen=True)
class Threshold:
    """A condition on one variable, e.g. ``ndvi < 0.2``; NaN never passes.

    Attributes:
        variable: Name of the cube variable.
        op: One of ``">"``, ``">="``, ``"<"``, ``"<="``.
        value: The threshold value.
    """

    variable: str
    op: str
    value: float

    OPS: ClassVar[dict[str, Callable[[np.ndarray, float], np.ndarray]]] = {
        ">": operator.gt,
        ">=": operator.ge,
        "<": operator.lt,
        "<=": operator.le,
    }

    def __post_init__(self) -> None:
        if self.op not in self.OPS:
            raise SpecError(f"threshold operator {self.op!r} is not one of {sorted(self.OPS)}")
        if not np.isfinite(self.value):
            raise SpecError(f"threshold value {self.value!r} is not finite")

    @classmethod
    def parse(cls, text: str) -> Threshold:
        """Parse ``"<variable>:<op><number>"``, e.g. ``"ndvi:<0.2"``; a bare number means ``>=`` (``"lst:300"``).

        Raises:
            SpecError: The text is not of that form; the message quotes it.
        """
        match = _THRESHOLD.match(text)
        if match is None:
            raise SpecError(f"bad threshold {text!r}: expected '<variable>:<op><number>' with op one of > >= < <=")
        variable, op, value = match.groups()
        return cls(variable, op or ">=", float(value))

    @property
    def kind(self) -> str:
        """Short name of the condition, e.g. ``"ndvi<0.2"`` or ``"lst>=300"``."""
        text = repr(float(self.value))  # shortest text that reads back as the same value
        return f"{self.variable}{self.op}{text.removesuffix('.0')}"

    def mask(self, values: np.ndarray) -> np.ndarray:
        """Boolean mask of the cells passing the threshold (``False`` where NaN)."""
        with np.errstate(invalid="ignore"):
            return np.asarray(self.OPS[self.op](values, self.value), dtype=bool)


@dataclass(frozen=True, eq=False)
class FeatureRecord:
    """One connected component of a threshold mask at one time step.

    Attributes:
        time_index: Index of the time step in the whole variable.
        part: Number of the component within its time step, by first cell in the dataset's row-major order.
        geometry: The component's outline in EPSG:4326 (longitude, latitude).
        value: Mean of the variable over the component's cells.
        n_cells: Number of cells.
        area: Area in m², the sum of the cells' areas (see :meth:`GridGeometry.cell_areas`).
    """

    time_index: int
    part: int
    geometry: shapely.MultiPolygon
    value: float
    n_cells: int
    area: float


def vectorize_block(
    block: np.ndarray, grid: GridGeometry, threshold: Threshold, t_index0: int, min_cells: int = 1
) -> list[FeatureRecord]:
    """Features of every time step of a block.

    Args:
        block: ``(t, ny, nx)`` values of the whole grid, rows in the dataset's order.
        grid: The grid of the values.
        threshold: The condition defining the mask.
        t_index0: Index of the block's first time step in the whole variable.
        min_cells: Components with fewer cells are dropped (numbering counts only the kept ones).

    Returns:
        Features ordered by time step, then part. Geometries of projected grids are densified to one vertex
        per cell edge before reprojection to EPSG:4326; those of geographic grids are kept as they are.

    Raises:
        ZonalError: ``block`` is not ``(t, ny, nx)`` on the grid.
    """
    block = np.asarray(block)
    if block.ndim != 3 or block.shape[1:] != grid.shape:
        raise ZonalError(f"block of shape {block.shape} is not (t, y, x) on the grid {grid.shape}")
    to_lonlat = _lonlat(grid)
    areas = grid.cell_areas().ravel()
    records: list[FeatureRecord] = []
    for k in range(block.shape[0]):
        values = block[k]
        mask = threshold.mask(values)
        labels, n = ndimage.label(mask, structure=_FOUR_CONNECTED)
        if n == 0:
            continue
        flat = labels.ravel()
        # renumber by first cell in row-major order, whatever order the labeller used
        present, first = np.unique(flat, return_index=True)
        present, first = present[present > 0], first[present > 0]
        counts = np.bincount(flat, minlength=n + 1)
        kept = present[np.argsort(first)]
        kept = kept[counts[kept] >= min_cells]
        if not len(kept):
            continue
        part_of = np.zeros(n + 1, dtype=np.int32)
        part_of[kept] = np.arange(1, len(kept) + 1)
        parts = part_of[labels]
        sums = np.bincount(flat, weights=np.where(mask, values, 0.0).ravel(), minlength=n + 1)
        area_sums = np.bincount(flat, weights=areas, minlength=n + 1)
        polygons: dict[int, list[shapely.Polygon]] = {}
        image = np.ascontiguousarray(grid.north_up(parts))
        for geom, value in shapes(image, mask=image > 0, connectivity=4, transform=grid.affine):
            polygons.setdefault(int(value), []).append(shapely.geometry.shape(geom))
        for p, label in enumerate(kept, start=1):
            geometry = shapely.MultiPolygon(polygons[p])
            records.append(
                FeatureRecord(
                    time_index=t_index0 + k,
                    part=p - 1,
                    geometry=to_lonlat(geometry),
                    value=float(sums[label] / counts[label]),
                    n_cells=int(counts[label]),
                    area=float(area_sums[label]),
                )
            )
    return records


def _lonlat(grid: GridGeometry) -> Callable[[shapely.Geometry], shapely.Geometry]:
    """Geometry in grid coordinates → EPSG:4326; projected cell edges are densified first, so they stay edges."""
    if grid.geographic:
        return lambda g: g
    transformer = pyproj.Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True)

    def project(g: shapely.Geometry) -> shapely.Geometry:
        g = shapely.segmentize(g, min(grid.res_x, grid.res_y))
        return shapely.transform(g, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1])))

    return project


def features_delayed(
    da: xr.DataArray, grid: GridGeometry, threshold: Threshold, min_cells: int = 1
) -> list[tuple[int, Delayed]]:
    """One delayed :func:`vectorize_block` per time chunk of ``da``, each reading the whole grid in one piece.

    Args:
        da: ``(time, y, x)`` variable (usually dask-backed), the one ``threshold`` names.
        grid: Its grid.
        threshold: The condition defining the mask.
        min_cells: Components with fewer cells are dropped.

    Returns:
        ``(index of the chunk's first time step, delayed list of FeatureRecord)`` per time chunk.

    Raises:
        ZonalError: ``da`` is not ``(time, y, x)`` on the grid.
    """
    if da.ndim != 3 or da.shape[1:] != grid.shape:
        raise ZonalError(f"variable of shape {da.shape} is not (time, y, x) on the grid {grid.shape}")
    shared = dask.delayed(grid, pure=True, traverse=False)
    return [
        (t0, dask.delayed(vectorize_block, pure=True)(blk, shared, threshold, t0, min_cells))
        for t0, blk in time_blocks(da)
    ]
