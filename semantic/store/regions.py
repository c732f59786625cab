"""Region sets: read polygons from GeoJSON, GeoPackage or Shapefile, check and repair them, load them.

A region set is named (``source``, by default the file's stem) and holds uniquely named regions. Importing a
file replaces its set: new regions are inserted, changed ones updated (their zonal statistics, now stale, are
removed), unchanged ones kept with their ids, and regions no longer in the file removed. Importing the same
file twice changes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely
import sqlalchemy as sa
from pyproj import Geod
from shapely.geometry.base import BaseGeometry

from semantic.errors import RegionError

NAME_FIELDS = ("name", "NAME", "Name", "id", "ID", "Id", "code", "CODE")
_GEOD = Geod(ellps="WGS84")


@dataclass(frozen=True)
class RegionRecord:
    """One region, ready to load: a valid MultiPolygon in EPSG:4326."""

    name: str
    geom: shapely.MultiPolygon
    properties: dict[str, Any]
    kind: str = "region"

    @property
    def area_m2(self) -> float:
        """Geodesic area on the WGS84 ellipsoid."""
        return abs(float(_GEOD.geometry_area_perimeter(self.geom)[0]))


@dataclass
class RegionSet:
    """Regions read from one file, with what had to be repaired."""

    source: str
    regions: list[RegionRecord]
    repaired: list[str] = field(default_factory=list)

    def names(self) -> list[str]:
        """Region names in file order."""
        return [r.name for r in self.regions]


@dataclass(frozen=True)
class ImportResult:
    """What an import changed."""

    source: str
    inserted: int
    updated: int
    unchanged: int
    removed: int
    repaired: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return dict(self.__dict__)


def _json_value(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if hasattr(value, "isoformat"):  # pandas Timestamp
        return value.isoformat()
    if isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _polygonal(geom: BaseGeometry) -> shapely.MultiPolygon | None:
    """The polygonal part of ``geom`` as a MultiPolygon, or ``None`` if it has none."""
    if isinstance(geom, shapely.Polygon):
        return None if geom.is_empty else shapely.MultiPolygon([geom])
    if isinstance(geom, shapely.MultiPolygon):
        return None if geom.is_empty else geom
    if isinstance(geom, shapely.GeometryCollection):
        parts = [p for g in geom.geoms if (m := _polygonal(g)) is not None for p in m.geoms]
        return shapely.MultiPolygon(parts) if parts else None
    return None


def check_geometry(label: str, geom: BaseGeometry | None, repair: bool) -> tuple[shapely.MultiPolygon, bool]:
    """A valid MultiPolygon for ``geom`` and whether it had to be repaired.

    Raises:
        RegionError: Missing, empty or non-polygonal geometry, or an invalid one (when not ``repair``) that
            cannot be made valid without losing its area; the message names ``label``.
    """
    if geom is None or geom.is_empty:
        raise RegionError(f"{label}: empty geometry")
    kind = geom.geom_type
    if kind not in ("Polygon", "MultiPolygon"):
        raise RegionError(f"{label}: {kind} geometry; regions must be polygons")
    if shapely.has_z(geom):
        geom = shapely.force_2d(geom)
    if geom.is_valid:
        multi = _polygonal(geom)
        assert multi is not None
        return multi, False
    reason = shapely.is_valid_reason(geom)
    if not repair:
        raise RegionError(f"{label}: invalid geometry ({reason})")
    fixed = _polygonal(shapely.make_valid(geom))
    if fixed is None or fixed.area == 0:
        raise RegionError(f"{label}: invalid geometry ({reason}) that cannot be repaired into a polygon")
    return fixed, True


def read_regions(
    path: str | Path,
    source: str | None = None,
    name_field: str | None = None,
    kind: str = "region",
    layer: str | None = None,
    repair: bool = True,
) -> RegionSet:
    """Read, reproject (to EPSG:4326) and check the polygons of a GeoJSON, GeoPackage or Shapefile.

    Args:
        path: The file.
        source: Name of the region set (default: the file's stem).
        name_field: Attribute holding region names (default: the first of ``name``, ``id``, ``code``... that
            exists; otherwise the features' 1-based numbers).
        kind: Kind of every region (``basin``, ``country``...).
        layer: Layer of a multi-layer file (GeoPackage).
        repair: Repair invalid geometries (``shapely.make_valid``) instead of rejecting them.

    Raises:
        RegionError: Unreadable file, no CRS, no features, unknown or duplicate names, unusable geometry.
    """
    import geopandas as gpd

    path = Path(path)
    if not path.exists():
        raise RegionError(f"{path}: no such file")
    try:
        frame = gpd.read_file(path, layer=layer, engine="pyogrio")
    except Exception as err:  # pyogrio raises several unrelated types for unreadable files
        raise RegionError(f"{path}: cannot read regions: {err}") from err
    if frame.crs is None:
        raise RegionError(f"{path}: no CRS; add one (e.g. a .prj file, or 'crs' in GeoJSON) and import again")
    if len(frame) == 0:
        raise RegionError(f"{path}: no features")
    columns = [c for c in frame.columns if c != frame.geometry.name]
    if name_field is not None and name_field not in columns:
        raise RegionError(f"{path}: no attribute {name_field!r} for region names (attributes: {columns})")
    name_field = name_field or next((c for c in NAME_FIELDS if c in columns), None)
    names = [str(v) for v in frame[name_field]] if name_field else [str(i + 1) for i in range(len(frame))]
    seen: set[str] = set()
    duplicates = sorted({n for n in names if n in seen or seen.add(n)})  # type: ignore[func-returns-value]
    if duplicates:
        raise RegionError(f"{path}: region names are not unique ({name_field}): {duplicates[:5]}")

    source_geoms = list(frame.geometry)
    frame = frame.to_crs(4326)
    regions: list[RegionRecord] = []
    repaired: list[str] = []
    for i, (name, geom) in enumerate(zip(names, frame.geometry, strict=True)):
        label = f"{path.name}: feature {i + 1} ({name_field or 'number'}={name!r})"
        # check validity where the geometry was drawn, then again after reprojection
        _, fixed_src = check_geometry(label, source_geoms[i], repair)
        multi, fixed = check_geometry(label, geom, repair)
        if fixed or fixed_src:
            repaired.append(name)
        props = {c: _json_value(frame.iloc[i][c]) for c in columns}
        regions.append(RegionRecord(name=name, geom=multi, properties=props, kind=kind))
    return RegionSet(source=source or path.stem, regions=regions, repaired=repaired)


def import_regions(conn: sa.Connection, regions: RegionSet) -> ImportResult:
    """Make the database's region set ``regions.source`` equal to ``regions`` (in the caller's transaction)."""
    existing = {
        row.name: row
        for row in conn.execute(
            sa.text("SELECT id, name, kind, properties, ST_AsBinary(geom) AS wkb FROM region WHERE source = :source"),
            {"source": regions.source},
        )
    }
    inserted = updated = unchanged = 0
    stale: list[int] = []
    for region in regions.regions:
        row = existing.pop(region.name, None)
        params = {
            "source": regions.source,
            "name": region.name,
            "kind": region.kind,
            "wkb": shapely.to_wkb(region.geom),
            "area": region.area_m2,
            "props": json.dumps(region.properties, sort_keys=True),
        }
        if row is None:
            conn.execute(
                sa.text(
                    "INSERT INTO region (source, name, kind, geom, area_m2, properties) VALUES "
                    "(:source, :name, :kind, ST_GeomFromWKB(:wkb, 4326), :area, CAST(:props AS jsonb))"
                ),
                params,
            )
            inserted += 1
            continue
        same_geom = shapely.equals_exact(shapely.from_wkb(bytes(row.wkb)), region.geom, tolerance=0)
        if same_geom and row.kind == region.kind and row.properties == region.properties:
            unchanged += 1
            continue
        conn.execute(
            sa.text(
                "UPDATE region SET kind = :kind, geom = ST_GeomFromWKB(:wkb, 4326), area_m2 = :area, "
                "properties = CAST(:props AS jsonb) WHERE id = :id"
            ),
            {**params, "id": row.id},
        )
        if not same_geom:
            stale.append(row.id)
        updated += 1
    if stale:  # statistics over a changed polygon no longer hold
        conn.execute(sa.text("DELETE FROM zonal_stat WHERE region_id = ANY(:ids)"), {"ids": stale})
    removed = [row.id for row in existing.values()]
    if removed:
        conn.execute(sa.text("DELETE FROM region WHERE id = ANY(:ids)"), {"ids": removed})
    return ImportResult(
        source=regions.source,
        inserted=inserted,
        updated=updated,
        unchanged=unchanged,
        removed=len(removed),
        repaired=len(regions.repaired),
    )


def region_set(conn: sa.Connection, source: str) -> list[tuple[int, str, shapely.MultiPolygon]]:
    """``(id, name, geometry)`` of every region of a set, ordered by id.

    Raises:
        RegionError: No region set of that name.
    """
    rows = conn.execute(
        sa.text("SELECT id, name, ST_AsBinary(geom) AS wkb FROM region WHERE source = :s ORDER BY id"), {"s": source}
    ).all()
    if not rows:
        known = conn.execute(sa.text("SELECT DISTINCT source FROM region ORDER BY 1")).scalars().all()
        raise RegionError(f"no region set {source!r} (known: {list(known)})")
    return [(int(r.id), str(r.name), shapely.from_wkb(bytes(r.wkb))) for r in rows]


def list_region_sets(conn: sa.Connection) -> Sequence[sa.Row[Any]]:
    """Every region set with its count of regions and total area."""
    return conn.execute(
        sa.text(
            "SELECT source, count(*) AS regions, sum(area_m2) / 1e6 AS area_km2, "
            "string_agg(DISTINCT kind, ',') AS kinds FROM region GROUP BY source ORDER BY source"
        )
    ).all()
