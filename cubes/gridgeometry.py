"""The geometry of a cube's regular grid: CRS, cell centres, bounds, north-up transform and exact cell areas."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pyproj
import xarray as xr
from affine import Affine

from cubes.errors import ZonalError

SPATIAL_DIMS = (("lat", "lon"), ("latitude", "longitude"), ("y", "x"))
_REGULAR_RTOL = 1e-4  # float32 coordinates near 360 degrees carry ~4e-5 relative noise on a 0.8 degree step


@dataclass(frozen=True, eq=False)
class GridGeometry:
    """A regular grid given by its cell-centre coordinates in the dataset's own order (``y`` either way).

    Attributes:
        crs: CRS of the coordinates.
        x: Cell-centre x coordinates (ascending).
        y: Cell-centre y coordinates, ascending (south-up, as cubes are written) or descending (north-up).
        res_x: Cell width, derived from ``x``.
        res_y: Cell height (positive), derived from ``y``.
        bounds: ``(xmin, ymin, xmax, ymax)`` of the cell edges.
    """

    crs: pyproj.CRS
    x: np.ndarray
    y: np.ndarray
    res_x: float = field(init=False)
    res_y: float = field(init=False)
    bounds: tuple[float, float, float, float] = field(init=False)

    def __post_init__(self) -> None:
        x = np.asarray(self.x, dtype=np.float64)
        y = np.asarray(self.y, dtype=np.float64)
        res_x, x0 = _regular_axis(x, "x")
        res_y, y0 = _regular_axis(y, "y")
        if res_x <= 0:
            raise ZonalError("x coordinates must ascend")
        ymin = y0 if res_y > 0 else y0 + res_y * len(y)
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "y", y)
        object.__setattr__(self, "res_x", res_x)
        object.__setattr__(self, "res_y", abs(res_y))
        object.__setattr__(self, "bounds", (x0, ymin, x0 + res_x * len(x), ymin + abs(res_y) * len(y)))

    @classmethod
    def from_dataset(cls, ds: xr.Dataset | xr.DataArray, crs: Any = None) -> GridGeometry:
        """The grid of a cube or of one of its variables (spatial dims ``lat/lon``, ``latitude/longitude`` or ``y/x``).

        The CRS is, in order: ``crs`` (anything ``pyproj.CRS`` accepts); the grid-mapping variable named by a
        ``grid_mapping`` attribute (its ``crs_wkt``, ``spatial_ref`` or CF attributes); a ``crs`` or
        ``spatial_ref`` variable; EPSG:4326 when the dims are latitude/longitude.

        Raises:
            ZonalError: No spatial dims, no CRS on a projected grid, or irregular coordinates.
        """
        ydim, xdim = spatial_dims(ds)
        found = pyproj.CRS.from_user_input(crs) if crs is not None else _dataset_crs(ds)
        if found is None and xdim == "x":
            raise ZonalError(f"no CRS found for dims ({ydim}, {xdim}); pass crs=")
        return cls(found or pyproj.CRS.from_epsg(4326), ds[xdim].values, ds[ydim].values)

    @property
    def geographic(self) -> bool:
        """Whether the CRS is geographic (degrees of longitude and latitude)."""
        return bool(self.crs.is_geographic)

    @property
    def shape(self) -> tuple[int, int]:
        """``(ny, nx)``."""
        return len(self.y), len(self.x)

    @property
    def y_ascending(self) -> bool:
        """Whether rows run south to north, as cubes of this project are written."""
        return bool(self.y[-1] > self.y[0])

    @property
    def affine(self) -> Affine:
        """North-up affine transform of the grid (row 0 at the top, i.e. the rows of :meth:`north_up`)."""
        xmin, _, _, ymax = self.bounds
        return Affine(self.res_x, 0.0, xmin, 0.0, -self.res_y, ymax)

    def north_up(self, a: np.ndarray) -> np.ndarray:
        """A view of ``a`` (``..., y, x`` in dataset order) with rows north to south."""
        return a[..., ::-1, :] if self.y_ascending else a

    def cell_areas(self) -> np.ndarray:
        """``(ny, nx)`` cell areas in m², in dataset row order (a read-only broadcast view, computed once).

        On geographic grids, the exact area of each latitude/longitude quadrangle on the CRS's ellipsoid:
        ``A = a²(1-e²)/2 · Δλ · [q(φ2) - q(φ1)]`` with the authalic ``q`` function (``a² Δλ (sin φ2 - sin φ1)``
        on a sphere). On projected grids the nominal ``res_x · res_y`` converted to m², which is the true area
        only for equal-area projections.
        """
        return self._areas

    @cached_property
    def _areas(self) -> np.ndarray:
        ny, nx = self.shape
        if not self.geographic:
            factor = self.crs.axis_info[0].unit_conversion_factor if self.crs.axis_info else 1.0
            return np.broadcast_to(self.res_x * self.res_y * factor * factor, (ny, nx))
        ellipsoid = self.crs.ellipsoid
        if ellipsoid is None:
            raise ZonalError(f"geographic CRS without an ellipsoid: {self.crs.name}")
        a, b = ellipsoid.semi_major_metre, ellipsoid.semi_minor_metre
        e2 = 1.0 - (b / a) ** 2
        _, ymin, _, ymax = self.bounds
        steps = self.res_y * np.arange(ny + 1)
        edges = np.clip(ymin + steps if self.y_ascending else ymax - steps, -90.0, 90.0)
        sin = np.sin(np.radians(edges))
        if e2 < 1e-15:
            band = a * a * (sin[1:] - sin[:-1])
        else:
            e = np.sqrt(e2)
            q = sin / (1 - e2 * sin**2) + np.log((1 + e * sin) / (1 - e * sin)) / (2 * e)
            band = a * a * (1 - e2) / 2 * (q[1:] - q[:-1])
        return np.broadcast_to(np.abs(band * np.radians(self.res_x))[:, None], (ny, nx))


def spatial_dims(ds: xr.Dataset | xr.DataArray) -> tuple[str, str]:
    """``(ydim, xdim)`` of a cube or variable; raises :class:`ZonalError` when none of the known pairs is there."""
    for ydim, xdim in SPATIAL_DIMS:
        if ydim in ds.dims and xdim in ds.dims:
            return ydim, xdim
    raise ZonalError(f"no spatial dims among {tuple(ds.dims)}; expected one of {SPATIAL_DIMS}")


def _dataset_crs(ds: xr.Dataset | xr.DataArray) -> pyproj.CRS | None:
    names = [ds.attrs.get("grid_mapping")]
    if isinstance(ds, xr.Dataset):
        names += [v.attrs.get("grid_mapping") for v in ds.data_vars.values()]
    names += ["crs", "spatial_ref"]
    for name in names:
        if isinstance(name, str) and (name in ds.coords or (isinstance(ds, xr.Dataset) and name in ds.variables)):
            attrs = ds[name].attrs
            try:
                for key in ("crs_wkt", "spatial_ref"):
                    if key in attrs:
                        return pyproj.CRS.from_wkt(attrs[key])
                return pyproj.CRS.from_cf(attrs)
            except pyproj.exceptions.CRSError as exc:
                raise ZonalError(f"grid mapping {name!r}: {exc}") from exc
    return None


def _regular_axis(c: np.ndarray, name: str) -> tuple[float, float]:
    """``(signed step, first edge)`` of regular centres ``c``."""
    if c.ndim != 1 or len(c) < 2:
        raise ZonalError(f"{name}: need a 1-D coordinate of at least two cells, got shape {c.shape}")
    step = (c[-1] - c[0]) / (len(c) - 1)
    if step == 0 or np.max(np.abs(np.diff(c) - step)) > _REGULAR_RTOL * abs(step):
        raise ZonalError(f"{name}: coordinates are not regularly spaced")
    # the mean offset is steadier than c[0] alone when coordinates are stored as float32
    return float(step), float(np.mean(c - step * np.arange(len(c))) - step / 2)
