"""The synthetic catalogue, written with SQL into the real catalogue tables.

One cube with one variable (``lst``), a region set of ``regions`` rectangles on a grid over [-20, 40] × [30, 70]
(lon/lat; 50 × 20 cells of 1.2° × 2° for 1,000 regions), zonal statistics of the variable for every region at
``zonal_steps`` 8-day steps (1 % of the means missing), and features numbered ``i = 0, 1, ...``: small octagons
(radius 0.01°-0.05°, vertices snapped to 1e-4°) at pseudo-random positions over the grid, with a value
(280-320, 2 % missing), a cell count (1-50) and an area.

Feature ``i`` has ``time = 2020-01-01 + (i % 500)`` days, ``kind = 'lst>300'`` or ``'lst>310'`` (by
``(i // 500) % 2``) and ``part = i // 1000``, so its primary key is a bijection of ``i`` and the first ``n``
features of a larger catalogue are exactly the catalogue of ``n`` features: the benchmark builds the first
``--rdflib-features``, measures against rdflib, then adds the rest (:func:`add_features`).

Pseudo-random numbers are ``hashint8extended(i, seed)`` scaled to [0, 1): deterministic and the same on every
PostgreSQL (the hash functions are stable, as hash partitioning needs).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

LON0, LON1, LAT0, LAT1 = -20.0, 40.0, 30.0, 70.0
TIME_STEPS = 500  # daily time steps of the features
KINDS = ("lst>300", "lst>310")  # thresholds: the '>' exercises the IRI-safe encoding of the feature IRIs
CUBE_NAME = "sparql-bench"
REGION_SOURCE = "sparql-bench-grid"
BASE = "https://w3id.org/esdl/"


def uniform(index: str, seed: int) -> str:
    """SQL of a pseudo-random double in [0, 1) from an integer expression and a seed."""
    return f"((hashint8extended(({index})::bigint, {seed}) & 4503599627370495)::float8 / 4503599627370496.0)"


@dataclass(frozen=True)
class Layout:
    """The region grid and the sizes."""

    regions: int
    zonal_steps: int

    @property
    def rows(self) -> int:
        """Rows of the grid (20 for 1,000 regions)."""
        return max(1, round(math.sqrt(self.regions / 2.5)))

    @property
    def cols(self) -> int:
        """Columns of the grid (50 for 1,000 regions); the last row may be partial."""
        return math.ceil(self.regions / self.rows)

    @property
    def dx(self) -> float:
        return (LON1 - LON0) / self.cols

    @property
    def dy(self) -> float:
        return (LAT1 - LAT0) / self.rows

    @property
    def block_cols(self) -> int:
        """Columns of the 2 × 2 blocks that the regions' ``kind`` names."""
        return math.ceil(self.cols / 2)

    def name(self, row: int, col: int) -> str:
        """The label of the region at ``(row, col)``."""
        return f"R{row:02d}-{col:02d}"

    def block(self, row: int, col: int) -> str:
        """The ``kind`` of the region at ``(row, col)``: its 2 × 2 block."""
        return f"block-{(row // 2) * self.block_cols + col // 2:03d}"

    def centre(self) -> tuple[int, int]:
        """``(row, col)`` of a region near the middle of the grid (an even row and column: a full block)."""
        row, col = (self.rows // 2) & ~1, (self.cols // 2) & ~1
        while row * self.cols + col >= self.regions and row > 0:
            row -= 2
        return row, col


def build_base(conn: sa.Connection, layout: Layout) -> int:
    """Insert the cube, the variable, the regions and the zonal statistics; returns the variable's id."""
    cube_id = conn.execute(
        sa.text(
            "INSERT INTO cube (name, version, title, location, store_path, crs, footprint, resolution_x, "
            "resolution_y, time_start, time_end, time_steps, spec_hash, created, attrs) VALUES "
            "(:name, '1', 'SPARQL benchmark cube', '/bench/lst.zarr', '/bench/lst.zarr/v1', 'EPSG:4326', "
            "ST_Multi(ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)), 0.05, 0.05, '2020-01-01Z', '2021-05-15Z', "
            ":steps, 'bench', '2026-11-22Z', '{}') RETURNING id"
        ),
        {"name": CUBE_NAME, "x0": LON0, "y0": LAT0, "x1": LON1, "y1": LAT1, "steps": TIME_STEPS},
    ).scalar_one()
    variable_id = conn.execute(
        sa.text(
            "INSERT INTO variable (cube_id, name, units, long_name, dtype) "
            "VALUES (:c, 'lst', 'K', 'land surface temperature', 'float32') RETURNING id"
        ),
        {"c": cube_id},
    ).scalar_one()
    envelope = "ST_MakeEnvelope(:x0 + c * :dx, :y0 + r * :dy, :x0 + (c + 1) * :dx, :y0 + (r + 1) * :dy, 4326)"
    conn.execute(
        sa.text(
            "INSERT INTO region (source, name, kind, geom, area_m2, properties) "
            "SELECT :source, format('R%s-%s', lpad(r::text, greatest(2, length(r::text)), '0'), "
            "lpad(c::text, greatest(2, length(c::text)), '0')), "
            "format('block-%s', lpad(b::text, greatest(3, length(b::text)), '0')), "
            f"ST_Multi({envelope}), ST_Area({envelope}::geography), jsonb_build_object('i', i, 'row', r, 'col', c) "
            "FROM generate_series(0, :n - 1) AS i, LATERAL (SELECT i / :cols AS r, i % :cols AS c) AS rc, "
            "LATERAL (SELECT (r / 2) * :bcols + c / 2 AS b) AS bb"
        ),
        {
            "source": REGION_SOURCE,
            "bcols": layout.block_cols,
            "x0": LON0,
            "y0": LAT0,
            "dx": layout.dx,
            "dy": layout.dy,
            "n": layout.regions,
            "cols": layout.cols,
        },
    )
    # a seasonal cycle, a latitude gradient and noise; 1 % of the means missing
    key = "(r.properties->>'i')::bigint * 100000 + t"
    conn.execute(
        sa.text(
            "INSERT INTO zonal_stat (variable_id, region_id, time, mean, min, max, std, valid_count, covered_area) "
            "SELECT :v, r.id, timestamptz '2020-01-01 00:00:00+00' + t * interval '8 days', "
            f"CASE WHEN {uniform(key, 7)} < 0.01 THEN NULL ELSE m END, m - 5, m + 5, 1.5 + {uniform(key, 8)}, "
            "400, r.area_m2 "
            "FROM region AS r, generate_series(0, :z - 1) AS t, LATERAL (SELECT "
            "330 - 0.8 * ST_Y(ST_Centroid(r.geom)) + 10 * sin(2 * pi() * t / 46.0) "
            f"+ 4 * ({uniform(key, 9)} - 0.5) AS m) AS mm "
            "WHERE r.source = :source"
        ),
        {"v": variable_id, "z": layout.zonal_steps, "source": REGION_SOURCE},
    )
    return int(variable_id)


def add_features(conn: sa.Connection, variable_id: int, start: int, stop: int) -> None:
    """Insert features ``start <= i < stop`` (see the module's docstring)."""
    if stop <= start:
        return
    conn.execute(
        sa.text(
            "INSERT INTO feature (variable_id, kind, time, part, geom, value, n_cells, area_m2) "
            f"SELECT :v, CASE WHEN (i / {TIME_STEPS}) % 2 = 0 THEN '{KINDS[0]}' ELSE '{KINDS[1]}' END, "
            f"timestamptz '2020-01-01 00:00:00+00' + (i % {TIME_STEPS}) * interval '1 day', "
            f"(i / {2 * TIME_STEPS})::int, "
            "ST_Multi(ST_SnapToGrid(ST_Buffer(ST_SetSRID(ST_MakePoint(x, y), 4326), rad, 'quad_segs=2'), 0.0001)), "
            "CASE WHEN u5 < 0.02 THEN NULL ELSE 280 + 40 * u4 END, 1 + floor(50 * u6)::int, "
            "pi() * rad * rad * 111320.0 * 111320.0 * cos(radians(y)) "
            "FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint) - 1) AS i, LATERAL (SELECT "
            f"{LON0} + {LON1 - LON0} * {uniform('i', 1)} AS x, {LAT0} + {LAT1 - LAT0} * {uniform('i', 2)} AS y, "
            f"0.01 + 0.04 * {uniform('i', 3)} AS rad, {uniform('i', 4)} AS u4, {uniform('i', 5)} AS u5, "
            f"{uniform('i', 6)} AS u6) AS p"
        ),
        {"v": variable_id, "lo": start, "hi": stop},
    )


def analyze(engine: sa.Engine, log: Callable[[str], None] | None = None) -> float:
    """``VACUUM ANALYZE`` of the catalogue tables (statistics and visibility map, as after a real load), then a
    ``CHECKPOINT``, so that the load's dirty pages are not written out while queries are timed (a role that may
    not checkpoint is told so through ``log``, and the timings go on)."""
    t0 = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in ("cube", "variable", "region", "zonal_stat", "feature", "rdf_quad"):
            conn.execute(sa.text(f"VACUUM ANALYZE {table}"))
        try:
            conn.execute(sa.text("CHECKPOINT"))
        except sa.exc.ProgrammingError as err:  # insufficient privilege (an external database)
            if log is not None:
                log(f"no CHECKPOINT after the load ({str(err.orig).strip()}): timings may include its writes")
    return time.perf_counter() - t0


def check_empty(engine: sa.Engine) -> None:
    """An external database must not hold catalogue rows: the queries would see them too.

    Raises:
        RuntimeError: It does.
    """
    with engine.connect() as conn:
        for table in ("feature", "zonal_stat", "region", "rdf_quad"):
            if conn.execute(sa.text(f"SELECT EXISTS (SELECT 1 FROM {table})")).scalar():
                raise RuntimeError(
                    f"ESDL_DATABASE_URL: table {table} is not empty; the benchmark needs an empty catalogue"
                )


def remove_own_rows(engine: sa.Engine) -> None:
    """Delete the benchmark's cube (variables, features and statistics cascade) and region set."""
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM cube WHERE name = :n"), {"n": CUBE_NAME})
        conn.execute(sa.text("DELETE FROM region WHERE source = :s"), {"s": REGION_SOURCE})


def counts(engine: sa.Engine) -> dict[str, Any]:
    """Rows per table."""
    with engine.connect() as conn:
        return {
            t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()
            for t in ("region", "zonal_stat", "feature")
        }
