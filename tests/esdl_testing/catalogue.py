"""A small catalogue for the SPARQL tests: one cube (id 7), its variables, three regions and a few statistics."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

# the region set: id, name, lon/lat box; statistics of variable 3 for regions 1 and 2
REGION_BOXES = ((1, (0, 45, 5, 50)), (2, (0, 40, 5, 45)), (5, (20, 0, 21, 1)))
STATISTICS = ((1, "2020-01-01", 281.5), (1, "2020-02-01", 279.0), (2, "2020-01-01", 290.25))


def insert_catalogue(
    conn: sa.Connection,
    cube_name: str,
    variables: Sequence[tuple[int, str, str | None]],
    region_names: Sequence[str],
) -> None:
    """Insert the cube, ``variables`` (id, name, units), regions 1, 2 and 5 named ``region_names``, and the
    zonal statistics of variable 3."""
    conn.execute(
        sa.text(
            "INSERT INTO cube (id, name, version, location, store_path, crs, footprint, resolution_x, "
            "resolution_y, time_start, time_end, time_steps, spec_hash, created, attrs) OVERRIDING SYSTEM VALUE "
            "VALUES (7, :name, '1', '/c', '/c', 'EPSG:4326', ST_Multi(ST_MakeEnvelope(0, 40, 10, 50, 4326)), "
            "0.25, 0.25, '2020-01-01Z', '2020-03-01Z', 2, 'abc', '2026-11-22Z', '{}')"
        ),
        {"name": cube_name},
    )
    for vid, name, units in variables:
        conn.execute(
            sa.text(
                "INSERT INTO variable (id, cube_id, name, units, dtype) OVERRIDING SYSTEM VALUE "
                "VALUES (:id, 7, :name, :units, 'float32')"
            ),
            {"id": vid, "name": name, "units": units},
        )
    for (rid, box), name in zip(REGION_BOXES, region_names, strict=True):
        conn.execute(
            sa.text(
                "INSERT INTO region (id, source, name, kind, geom, area_m2, properties) OVERRIDING SYSTEM VALUE "
                "VALUES (:id, 'zones', :name, 'basin', ST_Multi(ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)), 1, '{}')"
            ),
            {"id": rid, "name": name, "x0": box[0], "y0": box[1], "x1": box[2], "y1": box[3]},
        )
    for rid, t, mean in STATISTICS:
        conn.execute(
            sa.text(
                "INSERT INTO zonal_stat (variable_id, region_id, time, mean, min, max, std, valid_count, "
                "covered_area) VALUES (3, :r, :t, :m, :m, :m, 0, 4, 1e6)"
            ),
            {"r": rid, "t": f"{t}T00:00:00Z", "m": mean},
        )
