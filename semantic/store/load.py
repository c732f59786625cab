"""Replace a cube's zonal statistics and features in bulk (in the caller's transaction).

Each replacement deletes the rows it is about to write (same variable and regions, or same variable and
threshold) and COPYs the new ones, so a rerun over the same cube leaves exactly the same rows, and a reader
sees the old rows or the new ones, never a mix: the caller commits once, after everything is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import shapely
import sqlalchemy as sa

from semantic.store.copy import Column, copy_binary, copy_text_rows

ZONAL_FIELDS = ("mean", "min", "max", "std", "valid_count", "covered_area")


@dataclass(frozen=True)
class FeatureRow:
    """A derived feature ready to load (geometry in EPSG:4326)."""

    time: np.datetime64
    part: int
    geom: shapely.MultiPolygon
    value: float | None
    n_cells: int
    area_m2: float


def replace_zonal_stats(
    conn: sa.Connection,
    variable_id: int,
    region_ids: np.ndarray,
    times: np.ndarray,
    stats: Mapping[str, np.ndarray],
) -> int:
    """Write the ``(region, time)`` statistics of one variable, replacing those of the same regions.

    Args:
        conn: Connection in a transaction.
        variable_id: The variable's id.
        region_ids: ``(R,)`` region ids.
        times: ``(T,)`` time stamps (``datetime64``, UTC).
        stats: ``(R, T)`` arrays named as :data:`ZONAL_FIELDS` (NaN: no valid value).

    Returns:
        The rows written.
    """
    region_ids = np.asarray(region_ids, dtype=np.int64)
    nr, nt = len(region_ids), len(times)
    for name in ZONAL_FIELDS:
        if np.shape(stats[name]) != (nr, nt):
            raise ValueError(f"zonal statistic {name!r} has shape {np.shape(stats[name])}, expected {(nr, nt)}")
    conn.execute(
        sa.text("DELETE FROM zonal_stat WHERE variable_id = :v AND region_id = ANY(:ids)"),
        {"v": variable_id, "ids": region_ids.tolist()},
    )
    columns = [
        Column("variable_id", "int8", np.full(nr * nt, variable_id, dtype=np.int64)),
        Column("region_id", "int8", np.repeat(region_ids, nt)),
        Column("time", "timestamptz", np.tile(np.asarray(times).astype("datetime64[us]"), nr)),
        *(Column(name, "float8", np.asarray(stats[name], dtype=np.float64).ravel()) for name in ZONAL_FIELDS[:4]),
        Column("valid_count", "int4", np.asarray(stats["valid_count"]).astype(np.int32).ravel()),
        Column("covered_area", "float8", np.nan_to_num(np.asarray(stats["covered_area"], dtype=np.float64)).ravel()),
    ]
    return copy_binary(conn, "zonal_stat", columns)


def replace_features(conn: sa.Connection, variable_id: int, kind: str, features: Iterable[FeatureRow]) -> int:
    """Write the features of one variable and threshold, replacing those loaded before."""
    conn.execute(sa.text("DELETE FROM feature WHERE variable_id = :v AND kind = :k"), {"v": variable_id, "k": kind})
    rows = [
        (
            variable_id,
            kind,
            str(np.asarray(f.time).astype("datetime64[us]")) + "Z",
            f.part,
            shapely.to_wkb(shapely.set_srid(f.geom, 4326), hex=True, include_srid=True),
            None if f.value is None or not np.isfinite(f.value) else float(f.value),
            int(f.n_cells),
            float(f.area_m2),
        )
        for f in features
    ]
    return copy_text_rows(
        conn, "feature", ["variable_id", "kind", "time", "part", "geom", "value", "n_cells", "area_m2"], rows
    )
