"""cube.stac: the STAC Collection a build wrote beside the cube (``collection.json``, :mod:`cubes.stac`), kept by
the catalogue load so that the HTTP service serves it (``/stac``) without reading the cube's folder.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "cube",
        sa.Column("stac", JSONB(), nullable=True, comment="the STAC Collection written with the cube, if any"),
    )


def downgrade() -> None:
    op.drop_column("cube", "stac")
