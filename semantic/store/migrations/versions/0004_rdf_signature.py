"""rdf_signature: the predicates and classes the quad table holds, kept by triggers.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
# the signature key of a quad: its graph, predicate, and class for rdf:type with an IRI object
KEY = f"graph, p, CASE WHEN p = '{RDF_TYPE}' AND o_kind = 1 THEN o ELSE '' END"

# Statement-level triggers with transition tables: one GROUP BY per statement (COPY and INSERT ... SELECT
# included), not one call per row. ``version`` is bumped, in the same transaction, only when a key appears or
# goes; readers take the version and the signature in one statement (semantic/sparql/signature.py).
FUNCTION = f"""
CREATE OR REPLACE FUNCTION esdl_rdf_signature() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  changed bigint := 0;
  n bigint;
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    DELETE FROM rdf_signature;
    GET DIAGNOSTICS changed = ROW_COUNT;
  END IF;
  IF TG_OP IN ('DELETE', 'UPDATE') THEN
    UPDATE rdf_signature AS s SET n = s.n - d.n
      FROM (SELECT {KEY} AS k, count(*) AS n FROM old_rows GROUP BY 1, 2, 3) AS d(graph, p, cls, n)
      WHERE s.graph = d.graph AND s.p = d.p AND s.cls = d.cls;
    DELETE FROM rdf_signature WHERE rdf_signature.n <= 0;
    GET DIAGNOSTICS n = ROW_COUNT;
    changed := changed + n;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    WITH up AS (
      INSERT INTO rdf_signature AS s (graph, p, cls, n)
        SELECT {KEY}, count(*) FROM new_rows GROUP BY 1, 2, 3
      ON CONFLICT (graph, p, cls) DO UPDATE SET n = s.n + excluded.n
      RETURNING (xmax = 0) AS inserted
    )
    SELECT count(*) FILTER (WHERE inserted) INTO n FROM up;
    changed := changed + n;
  END IF;
  IF changed > 0 THEN
    UPDATE rdf_signature_state SET version = version + 1;
  END IF;
  RETURN NULL;
END $$
"""
TRIGGERS = (
    "CREATE TRIGGER rdf_signature_insert AFTER INSERT ON rdf_quad REFERENCING NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION esdl_rdf_signature()",
    "CREATE TRIGGER rdf_signature_delete AFTER DELETE ON rdf_quad REFERENCING OLD TABLE AS old_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION esdl_rdf_signature()",
    "CREATE TRIGGER rdf_signature_update AFTER UPDATE ON rdf_quad REFERENCING OLD TABLE AS old_rows "
    "NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION esdl_rdf_signature()",
    "CREATE TRIGGER rdf_signature_truncate AFTER TRUNCATE ON rdf_quad "
    "FOR EACH STATEMENT EXECUTE FUNCTION esdl_rdf_signature()",
)


def upgrade() -> None:
    """Create the tables, fill them from the quads already loaded, and install the triggers."""
    op.create_table(
        "rdf_signature",
        sa.Column("graph", sa.Text(), nullable=False, comment="named graph IRI; '' for the default graph"),
        sa.Column("p", sa.Text(), nullable=False, comment="predicate IRI"),
        sa.Column("cls", sa.Text(), nullable=False, comment="the class (object) of rdf:type quads, else ''"),
        sa.Column("n", sa.BigInteger(), nullable=False, comment="quads with this graph, predicate and class"),
        sa.PrimaryKeyConstraint("graph", "p", "cls", name="pk_rdf_signature"),
    )
    op.create_table(
        "rdf_signature_state",
        sa.Column("id", sa.SmallInteger(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_rdf_signature_state_one_row"),
        sa.PrimaryKeyConstraint("id", name="pk_rdf_signature_state"),
    )
    op.execute("LOCK TABLE rdf_quad IN SHARE MODE")  # no quad may slip in between the fill and the triggers
    op.execute(f"INSERT INTO rdf_signature (graph, p, cls, n) SELECT {KEY}, count(*) FROM rdf_quad GROUP BY 1, 2, 3")
    op.execute("INSERT INTO rdf_signature_state (id, version) VALUES (1, 1)")
    op.execute(FUNCTION)
    for trigger in TRIGGERS:
        op.execute(trigger)


def downgrade() -> None:
    """Drop the triggers, the function and the tables."""
    for name in ("insert", "delete", "update", "truncate"):
        op.execute(f"DROP TRIGGER IF EXISTS rdf_signature_{name} ON rdf_quad")
    op.execute("DROP FUNCTION IF EXISTS esdl_rdf_signature()")
    op.drop_table("rdf_signature_state")
    op.drop_table("rdf_signature")
