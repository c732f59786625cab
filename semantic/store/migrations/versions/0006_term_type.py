"""esdl_term: the composite type of an RDF term's identity, so MIN/MAX sort a group's terms once.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the type: kind, lexical form, datatype and language (docs/sparql.md; the typed values are the
    group's extremes themselves)."""
    op.execute("CREATE TYPE esdl_term AS (k smallint, v text, dt text, lang text)")


def downgrade() -> None:
    """Drop the type."""
    op.execute("DROP TYPE IF EXISTS esdl_term")
