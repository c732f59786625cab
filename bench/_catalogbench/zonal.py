"""The two zonal-statistics sides and their comparison.

Both sides compute, per variable, region and time step, the coverage × cell-area weighted mean and
(population) standard deviation, the minimum and maximum over the cells a region touches, and the count of
valid (non-NaN) cells it touches:

* esdl: :func:`cubes.zonal.coverage_weights` once for the region set, then :func:`cubes.zonal.zonal_block`
  on each variable's whole ``(time, lat, lon)`` array (one compiled pass over the covered cells);
* exactextract: one ``exact_extract`` call over every band of every variable at once (one ``NumPyRasterSource``
  per band, north-up), with the grid's cell areas as the weight raster, operations ``weighted_mean``,
  ``weighted_stdev``, ``min``, ``max`` and ``count(coverage_weight=none)`` (cells touched, not coverage).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

STATS = ("mean", "std", "min", "max", "valid_count")
EE_OPS = ("weighted_mean", "weighted_stdev", "min", "max", "count(coverage_weight=none)")
EE_FIELDS = {
    "mean": "area_weighted_mean",
    "std": "area_weighted_stdev",
    "min": "min",
    "max": "max",
    "valid_count": "count",
}
TINY = np.finfo(np.float64).tiny

# exactextract's multi-band results: per variable a dict of (regions, time) arrays named as STATS
Results = dict[str, dict[str, np.ndarray]]


@dataclass(frozen=True)
class EsdlRun:
    """One esdl run on arrays already in memory."""

    stats: dict[str, Any]  # variable -> cubes.zonal.ZonalStats
    coverage_s: float
    zonal_s: float

    @property
    def total_s(self) -> float:
        """Coverage plus zonal seconds."""
        return self.coverage_s + self.zonal_s


def esdl_in_memory(grid: Any, geometries: list[Any], arrays: dict[str, np.ndarray]) -> EsdlRun:
    """Coverage weights once, then :func:`~cubes.zonal.zonal_block` on each variable's loaded array (one thread)."""
    from cubes.zonal import coverage_weights, zonal_block

    t0 = time.perf_counter()
    weights = coverage_weights(grid, geometries)
    t1 = time.perf_counter()
    stats = {name: zonal_block(values, weights) for name, values in arrays.items()}
    t2 = time.perf_counter()
    return EsdlRun(stats, t1 - t0, t2 - t1)


def esdl_from_zarr(path: Path, geometries: list[Any], variables: tuple[str, ...]) -> tuple[dict[str, Any], float]:
    """The end-to-end path of the ``load-catalog`` flow without Prefect: open the cube, coverage weights, and
    :func:`~cubes.zonal.zonal_delayed` of every variable computed with dask's threaded scheduler (reading and
    decompressing the Zarr chunks inside the timing).

    Returns:
        The statistics per variable and the seconds.
    """
    import dask

    from cubes.gridgeometry import GridGeometry
    from cubes.verify import open_cube
    from cubes.zonal import ZonalStats, coverage_weights, zonal_delayed

    t0 = time.perf_counter()
    ds = open_cube(path)
    weights = coverage_weights(GridGeometry.from_dataset(ds), geometries)
    jobs = {name: [d for _, d in zonal_delayed(ds[name], weights)] for name in variables}
    (computed,) = dask.compute(jobs, scheduler="threads", num_workers=os.cpu_count())
    stats = {name: ZonalStats.concat(parts) for name, parts in computed.items()}
    return stats, time.perf_counter() - t0


@dataclass(frozen=True)
class ExactextractRun:
    """One exactextract run: its raw output, the seconds of the call and of turning it into arrays."""

    stats: Results
    call_s: float
    parse_s: float


def exactextract_run(
    north_up: dict[str, np.ndarray],
    bounds: tuple[float, float, float, float],
    areas_north_up: np.ndarray,
    geometries: list[Any],
    crs_wkt: str,
    strategy: str = "feature-sequential",
) -> ExactextractRun:
    """One ``exact_extract`` call over every band of every variable (see the module documentation).

    Args:
        north_up: ``(time, y, x)`` arrays per variable, rows north to south, C-contiguous.
        bounds: ``(xmin, ymin, xmax, ymax)`` of the grid.
        areas_north_up: ``(y, x)`` cell areas (m²), rows north to south.
        geometries: The regions (shapely).
        crs_wkt: CRS of rasters and regions.
        strategy: exactextract's processing strategy.
    """
    import shapely
    from exactextract import exact_extract
    from exactextract.feature import JSONFeatureSource
    from exactextract.raster import NumPyRasterSource

    t0 = time.perf_counter()
    rasters = [
        NumPyRasterSource(values[t], *bounds, name=f"{name}.{t}", srs_wkt=crs_wkt)
        for name, values in north_up.items()
        for t in range(values.shape[0])
    ]
    weights = NumPyRasterSource(areas_north_up, *bounds, name="area", srs_wkt=crs_wkt)
    features = JSONFeatureSource(
        [
            {"type": "Feature", "properties": {"region": i}, "geometry": shapely.geometry.mapping(g)}
            for i, g in enumerate(geometries)
        ]
    )
    out = exact_extract(rasters, features, list(EE_OPS), weights=weights, include_cols=["region"], strategy=strategy)
    t1 = time.perf_counter()
    stats = _parse(out, {name: values.shape[0] for name, values in north_up.items()}, len(geometries))
    return ExactextractRun(stats, t1 - t0, time.perf_counter() - t1)


def _parse(features: list[dict[str, Any]], steps: dict[str, int], n_regions: int) -> Results:
    """exactextract's GeoJSON-like output as ``(regions, time)`` arrays per variable and statistic."""
    out: Results = {name: {s: np.full((n_regions, nt), np.nan) for s in STATS} for name, nt in steps.items()}
    for feature in features:
        props = feature["properties"]
        i = int(props["region"])
        for name, nt in steps.items():
            for stat in STATS:
                keys = [f"{name}.{t}_{EE_FIELDS[stat]}" for t in range(nt)]
                try:
                    out[name][stat][i] = [props[k] for k in keys]
                except KeyError as err:
                    sample = sorted(props)[:6]
                    raise RuntimeError(f"exactextract output has no field {err}; fields look like {sample}") from None
    return out


def rel_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``|a - b| / max(|b|, tiny)``, 0 where both are NaN and infinite where only one is."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    both = np.isnan(a) & np.isnan(b)
    one = np.isnan(a) ^ np.isnan(b)
    with np.errstate(invalid="ignore", divide="ignore"):
        d = np.abs(a - b) / np.maximum(np.abs(b), TINY)
    return np.where(both, 0.0, np.where(one, np.inf, d))


def compare(esdl: dict[str, Any], ee: Results) -> dict[str, Any]:
    """esdl against exactextract: worst relative difference per statistic, and the count comparison.

    ``max_rel_diff`` is the largest ``|a - b| / max(|b|, tiny)`` over variables, regions, time steps and the four
    float statistics (``b`` exactextract's, NaN against NaN equal). Because a value where exactextract has
    exactly 0 (the standard deviation of one cell) makes any difference huge, the largest relative difference
    where exactextract's value is non-zero and the largest absolute difference where it is zero are given too.
    ``valid_count`` must equal exactextract's count of touched valid cells exactly.
    """
    per_stat: dict[str, float] = {}
    nonzero: dict[str, float] = {}
    zero_cases: dict[str, Any] = {"mismatches": 0, "max_abs_diff": 0.0}
    worst: dict[str, Any] = {"rel_diff": -1.0}
    nan_mismatch = 0
    for name, mine in esdl.items():
        for stat in STATS[:4]:
            a, b = np.asarray(getattr(mine, stat), dtype=np.float64), ee[name][stat]
            d = rel_diff(a, b)
            nan_mismatch += int(np.isinf(d).sum())
            top = float(d.max())
            per_stat[stat] = max(per_stat.get(stat, 0.0), top)
            nonzero[stat] = max(nonzero.get(stat, 0.0), float(np.where(b == 0, 0.0, d).max()))
            at_zero = (b == 0) & (a != 0)
            zero_cases["mismatches"] += int(at_zero.sum())
            zero_cases["max_abs_diff"] = max(zero_cases["max_abs_diff"], float(np.abs(a[at_zero]).max(initial=0.0)))
            if top > worst["rel_diff"]:
                i, t = np.unravel_index(int(np.argmax(d)), d.shape)
                worst = {
                    "rel_diff": top,
                    "variable": name,
                    "stat": stat,
                    "region_index": int(i),
                    "time_index": int(t),
                    "esdl": float(a[i, t]),
                    "exactextract": float(b[i, t]),
                    "valid_count": int(mine.valid_count[i, t]),
                }
    count_mismatch = sum(
        int((np.asarray(mine.valid_count) != np.nan_to_num(ee[name]["valid_count"], nan=-1)).sum())
        for name, mine in esdl.items()
    )
    empty = sum(int((np.asarray(mine.valid_count) == 0).sum()) for mine in esdl.values())
    values = sum(int(np.asarray(mine.valid_count).size) for mine in esdl.values())
    return {
        "max_rel_diff": max(per_stat.values()),
        "max_rel_diff_by_stat": per_stat,
        "max_rel_diff_where_exactextract_nonzero": max(nonzero.values()),
        "max_rel_diff_where_exactextract_nonzero_by_stat": nonzero,
        "exactextract_zero_esdl_not": zero_cases,
        "worst": worst,
        "nan_mismatches": nan_mismatch,
        "valid_count_mismatches": count_mismatch,
        "region_steps_without_valid_cell": empty,
        "region_steps": values,
    }


def same_stats(a: dict[str, Any], b: dict[str, Any]) -> float:
    """Largest absolute difference between two esdl results (NaN-aware); 0.0 when identical."""
    worst = 0.0
    for name in a:
        for stat in (*STATS, "covered_area"):
            x = np.asarray(getattr(a[name], stat), dtype=np.float64)
            y = np.asarray(getattr(b[name], stat), dtype=np.float64)
            if not np.array_equal(np.isnan(x), np.isnan(y)):
                return float("inf")
            worst = max(worst, float(np.nanmax(np.abs(x - y), initial=0.0)))
    return worst


def _exact_mean_std(values: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    """Weighted mean and population standard deviation in exact rational arithmetic (then rounded once)."""
    from decimal import Decimal, localcontext
    from fractions import Fraction

    ok = ~np.isnan(values)
    xs = [Fraction(float(v)) for v in values[ok]]
    ws = [Fraction(float(w)) for w in weights[ok]]
    total = sum(ws, Fraction(0))
    mean = sum((w * x for w, x in zip(ws, xs, strict=True)), Fraction(0)) / total
    var = sum((w * (x - mean) ** 2 for w, x in zip(ws, xs, strict=True)), Fraction(0)) / total
    with localcontext() as ctx:
        ctx.prec = 60
        std = (Decimal(var.numerator) / Decimal(var.denominator)).sqrt()
    return float(mean), float(std)


def exact_check(
    arrays: dict[str, np.ndarray], weights: Any, esdl: dict[str, Any], ee: Results, per_kind: int = 15
) -> dict[str, Any]:
    """Who is right where the two sides disagree most: both against exact rational arithmetic.

    For each variable and for ``mean`` and ``std``, the ``per_kind`` largest disagreements where exactextract's
    value is non-zero, and the ``per_kind`` largest where it is exactly zero, are recomputed exactly from the
    same cells and coverage × area weights (exactextract's coverage fractions, as both sides use).

    Returns:
        Per statistic: the cases checked and, for each side, the largest relative error against the exact value
        (absolute where the exact value is 0).
    """
    out: dict[str, Any] = {}
    for stat in ("mean", "std"):
        checked = 0
        err = {"esdl_max_rel_err": 0.0, "exactextract_max_rel_err": 0.0, "esdl_max_abs_err_at_exact_zero": 0.0}
        err["exactextract_max_abs_err_at_exact_zero"] = 0.0
        for name, mine in esdl.items():
            a, b = np.asarray(getattr(mine, stat)), ee[name][stat]
            d = rel_diff(a, b)
            d[np.isinf(d)] = 0.0  # NaN against a number: reported by compare(), nothing to recompute
            for zero in (False, True):
                pick = np.where((b == 0) == zero, d, 0.0)
                order = np.argsort(pick, axis=None)[::-1][:per_kind]
                for flat in order:
                    if pick.flat[flat] == 0:
                        break
                    i, t = np.unravel_index(flat, d.shape)
                    cells = slice(weights.indptr[i], weights.indptr[i + 1])
                    values = arrays[name][t, weights.rows[cells], weights.cols[cells]].astype(np.float64)
                    exact = _exact_mean_std(values, weights.weight[cells])[0 if stat == "mean" else 1]
                    checked += 1
                    for side, got in (("esdl", a[i, t]), ("exactextract", b[i, t])):
                        if exact == 0:
                            key = f"{side}_max_abs_err_at_exact_zero"
                            err[key] = max(err[key], abs(float(got)))
                        else:
                            key = f"{side}_max_rel_err"
                            err[key] = max(err[key], abs(float(got) - exact) / abs(exact))
        out[stat] = {"checked": checked, **err}
    return out
