"""The catalogue: cubes, variables, regions, zonal statistics and features.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _geom() -> Geometry:
    return Geometry("MULTIPOLYGON", srid=4326, spatial_index=False)


def _tz() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the catalogue tables (PostGIS must be available)."""
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table(
        "cube",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("version", sa.Text(), nullable=False),
        sa.Column("title", sa.Text()),
        sa.Column("location", sa.Text(), nullable=False, comment="published path of the Zarr store"),
        sa.Column("store_path", sa.Text(), nullable=False, comment="the versioned store it points at"),
        sa.Column("crs", sa.Text(), nullable=False, comment="grid CRS as an authority code or WKT"),
        sa.Column("footprint", _geom(), nullable=False),
        sa.Column("resolution_x", sa.Double(), nullable=False),
        sa.Column("resolution_y", sa.Double(), nullable=False),
        sa.Column("time_start", _tz(), nullable=False),
        sa.Column("time_end", _tz(), nullable=False),
        sa.Column("time_steps", sa.Integer(), nullable=False),
        sa.Column("spec_hash", sa.Text(), nullable=False),
        sa.Column("created", _tz(), nullable=False),
        sa.Column("attrs", JSONB(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_cube"),
        sa.UniqueConstraint("name", "version", name="uq_cube_name_version"),
    )
    op.create_index("ix_cube_footprint", "cube", ["footprint"], postgresql_using="gist")
    op.create_table(
        "variable",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("cube_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("units", sa.Text()),
        sa.Column("long_name", sa.Text()),
        sa.Column("standard_name", sa.Text()),
        sa.Column("spatial_aggregation", sa.Text()),
        sa.Column("temporal_aggregation", sa.Text()),
        sa.Column("dtype", sa.Text(), nullable=False),
        sa.Column("valid_fraction", sa.Double()),
        sa.Column("min", sa.Double()),
        sa.Column("max", sa.Double()),
        sa.Column("mean", sa.Double()),
        sa.Column("std", sa.Double()),
        sa.PrimaryKeyConstraint("id", name="pk_variable"),
        sa.ForeignKeyConstraint(["cube_id"], ["cube.id"], name="fk_variable_cube_id_cube", ondelete="CASCADE"),
        sa.UniqueConstraint("cube_id", "name", name="uq_variable_cube_id_name"),
    )
    op.create_table(
        "region",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("source", sa.Text(), nullable=False, comment="the region set, e.g. the file it came from"),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("geom", _geom(), nullable=False),
        sa.Column("area_m2", sa.Double(), nullable=False, comment="geodesic area on WGS84"),
        sa.Column("properties", JSONB(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_region"),
        sa.UniqueConstraint("source", "name", name="uq_region_source_name"),
    )
    op.create_index("ix_region_geom", "region", ["geom"], postgresql_using="gist")
    op.create_table(
        "zonal_stat",
        sa.Column("variable_id", sa.BigInteger(), nullable=False),
        sa.Column("region_id", sa.BigInteger(), nullable=False),
        sa.Column("time", _tz(), nullable=False),
        sa.Column("mean", sa.Double()),
        sa.Column("min", sa.Double()),
        sa.Column("max", sa.Double()),
        sa.Column("std", sa.Double()),
        sa.Column("valid_count", sa.Integer(), nullable=False, comment="cells with a valid value"),
        sa.Column("covered_area", sa.Double(), nullable=False, comment="m² of the region with valid data"),
        sa.PrimaryKeyConstraint("variable_id", "region_id", "time", name="pk_zonal_stat"),
        sa.ForeignKeyConstraint(
            ["variable_id"], ["variable.id"], name="fk_zonal_stat_variable_id_variable", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["region_id"], ["region.id"], name="fk_zonal_stat_region_id_region", ondelete="CASCADE"
        ),
        sa.CheckConstraint("valid_count >= 0", name="ck_zonal_stat_valid_count"),
    )
    op.create_index("ix_zonal_stat_region_id", "zonal_stat", ["region_id"])
    op.create_table(
        "feature",
        sa.Column("variable_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False, comment="the threshold, e.g. 'ndvi<0.2'"),
        sa.Column("time", _tz(), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False, comment="component number, stable across loads"),
        sa.Column("geom", _geom(), nullable=False),
        sa.Column("value", sa.Double(), comment="mean of the variable over the feature"),
        sa.Column("n_cells", sa.Integer(), nullable=False),
        sa.Column("area_m2", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("variable_id", "kind", "time", "part", name="pk_feature"),
        sa.ForeignKeyConstraint(
            ["variable_id"], ["variable.id"], name="fk_feature_variable_id_variable", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_feature_geom", "feature", ["geom"], postgresql_using="gist")


def downgrade() -> None:
    """Drop the catalogue tables (PostGIS stays)."""
    for table in ("feature", "zonal_stat", "region", "variable", "cube"):
        op.drop_table(table)
