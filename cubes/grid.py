"""Target grid: cell-centre coordinates, bounds, dimension names and CF grid-mapping attributes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyproj

from cubes.spec import GridSpec


@dataclass(frozen=True)
class TargetGrid:
    """The regular target grid; ``y`` ascends (south to north for geographic grids)."""

    spec: GridSpec

    @property
    def crs(self) -> pyproj.CRS:
        """Target CRS."""
        return self.spec.pyproj_crs

    @property
    def dims(self) -> tuple[str, str]:
        """Spatial dimension names ``(y, x)``: ``("lat", "lon")`` for geographic CRSs."""
        return ("lat", "lon") if self.spec.is_geographic else ("y", "x")

    @property
    def shape(self) -> tuple[int, int]:
        """``(ny, nx)``."""
        return self.spec.shape

    @property
    def x(self) -> np.ndarray:
        """Cell-centre x coordinates."""
        xmin, rx = self.spec.bbox[0], self.spec.res[0]
        return xmin + (np.arange(self.shape[1]) + 0.5) * rx

    @property
    def y(self) -> np.ndarray:
        """Cell-centre y coordinates (ascending)."""
        ymin, ry = self.spec.bbox[1], self.spec.res[1]
        return ymin + (np.arange(self.shape[0]) + 0.5) * ry

    def bounds(self, axis: str) -> np.ndarray:
        """``(n, 2)`` cell edges along ``"x"`` or ``"y"``."""
        centres = self.x if axis == "x" else self.y
        half = (self.spec.res[0] if axis == "x" else self.spec.res[1]) / 2
        return np.stack([centres - half, centres + half], axis=1)

    def coord_attrs(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """CF attributes of the ``(y, x)`` coordinates."""
        ydim, xdim = self.dims
        if self.spec.is_geographic:
            return (
                {
                    "standard_name": "latitude",
                    "long_name": "latitude",
                    "units": "degrees_north",
                    "axis": "Y",
                    "bounds": f"{ydim}_bnds",
                },
                {
                    "standard_name": "longitude",
                    "long_name": "longitude",
                    "units": "degrees_east",
                    "axis": "X",
                    "bounds": f"{xdim}_bnds",
                },
            )
        unit = self.crs.axis_info[0].unit_name if self.crs.axis_info else "m"
        units = "m" if unit in ("metre", "meter") else unit
        return (
            {"standard_name": "projection_y_coordinate", "units": units, "axis": "Y", "bounds": f"{ydim}_bnds"},
            {"standard_name": "projection_x_coordinate", "units": units, "axis": "X", "bounds": f"{xdim}_bnds"},
        )

    def grid_mapping_attrs(self) -> dict[str, Any]:
        """CF grid-mapping attributes of the target CRS (with ``crs_wkt`` and ``spatial_ref``)."""
        attrs = dict(self.crs.to_cf())
        wkt = self.crs.to_wkt()
        attrs["crs_wkt"] = wkt
        attrs["spatial_ref"] = wkt
        return attrs

    def geographic_bounds(self) -> tuple[float, float, float, float]:
        """``(lon_min, lat_min, lon_max, lat_max)`` of the grid, for ACDD metadata."""
        xmin, ymin, xmax, ymax = self.spec.bbox
        if self.spec.is_geographic:
            return xmin, ymin, xmax, ymax
        tr = pyproj.Transformer.from_crs(self.crs, "EPSG:4326", always_xy=True)
        lon0, lat0, lon1, lat1 = tr.transform_bounds(xmin, ymin, xmax, ymax)
        return float(lon0), float(lat0), float(lon1), float(lat1)
