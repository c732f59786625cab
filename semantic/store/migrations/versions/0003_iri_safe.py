"""esdl_iri_safe(text): R2RML's IRI-safe percent-encoding, for IRI templates over text columns.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# every character but unreserved ASCII (letters, digits, - . _ ~) and non-ASCII becomes %XX of its UTF-8 bytes
FUNCTION = r"""
CREATE OR REPLACE FUNCTION esdl_iri_safe(value text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT coalesce(string_agg(
           CASE WHEN ch ~ '^[A-Za-z0-9._~-]$' OR ascii(ch) > 127 THEN ch
                ELSE upper(regexp_replace(encode(convert_to(ch, 'UTF8'), 'hex'), '(..)', '%\1', 'g'))
           END, '' ORDER BY n), '')
  FROM regexp_split_to_table(value, '') WITH ORDINALITY AS t(ch, n)
$$
"""


def upgrade() -> None:
    """Create the function."""
    op.execute(FUNCTION)


def downgrade() -> None:
    """Drop the function."""
    op.execute("DROP FUNCTION IF EXISTS esdl_iri_safe(text)")
