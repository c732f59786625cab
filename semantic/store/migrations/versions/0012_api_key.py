"""esdl_auth.api_key: the HTTP service's API keys for machines, kept as SHA-256 hashes (esdl/api/auth/keys.py).

The table lives in its own schema, ``esdl_auth``, on which nobody but the owner has any privilege: the read-only
role of the SPARQL endpoint gets ``USAGE`` and ``SELECT`` on schema ``public`` only (semantic/store/roles.py,
including its default privileges), so it cannot see the hashes, and no R2RML mapping names the table. Keeping it out
of ``public`` also keeps it out of the catalogue models (semantic/store/models.py), which describe ``public``.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-12
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

SCHEMA = "esdl_auth"


def upgrade() -> None:
    """Create schema ``esdl_auth``, closed to everyone but its owner, and ``esdl_auth.api_key`` in it."""
    op.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    op.execute(f"REVOKE ALL ON SCHEMA {SCHEMA} FROM PUBLIC")
    op.create_table(
        "api_key",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("key_id", sa.Text(), nullable=False, comment="the public part of the key: esdl_<key_id>_<secret>"),
        sa.Column(
            "secret_sha256",
            sa.LargeBinary(),
            nullable=False,
            comment="SHA-256 of the whole key (32 random bytes of secret need no slow hash)",
        ),
        sa.Column("name", sa.Text(), nullable=False, comment="what the key is for, as given at creation"),
        sa.Column("permission", sa.Text(), nullable=False, comment="read, run or admin"),
        sa.Column("created", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("revoked", sa.DateTime(timezone=True), nullable=True, comment="refused from then on"),
        sa.Column("last_used", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_key"),
        sa.UniqueConstraint("key_id", name="uq_api_key_key_id"),
        sa.CheckConstraint("permission IN ('read', 'run', 'admin')", name="ck_api_key_permission"),
        sa.CheckConstraint("octet_length(secret_sha256) = 32", name="ck_api_key_secret_sha256"),
        schema=SCHEMA,
    )
    op.execute(f"REVOKE ALL ON {SCHEMA}.api_key FROM PUBLIC")


def downgrade() -> None:
    """Drop the table and the schema (which holds nothing else)."""
    op.drop_table("api_key", schema=SCHEMA)
    op.execute(f"DROP SCHEMA IF EXISTS {SCHEMA}")
