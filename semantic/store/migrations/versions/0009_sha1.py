"""pgcrypto, for SPARQL's SHA1(): PostgreSQL's own digests (md5, sha224..sha512) have no SHA-1.

pgcrypto is a trusted extension (PostgreSQL 13 and later): the database's owner may create it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the extension (where it is not there already)."""
    op.execute("CREATE EXTENSION IF NOT EXISTS pgcrypto")


def downgrade() -> None:
    """Leave the extension: other users of the database may rely on it (dropping it is theirs to decide)."""
