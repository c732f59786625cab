"""The quad table: RDF files loaded into the knowledge graph.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``rdf_quad`` with its set semantics (unique index) and the indexes of the SPARQL access paths."""
    op.create_table(
        "rdf_quad",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("graph", sa.Text(), nullable=False, comment="named graph IRI; '' for the default graph"),
        sa.Column("s_kind", sa.SmallInteger(), nullable=False, comment="1 IRI, 2 blank node"),
        sa.Column("s", sa.Text(), nullable=False),
        sa.Column("p", sa.Text(), nullable=False),
        sa.Column("o_kind", sa.SmallInteger(), nullable=False, comment="1 IRI, 2 blank node, 3 literal"),
        sa.Column("o", sa.Text(), nullable=False, comment="IRI, blank node label or lexical form"),
        sa.Column("o_dt", sa.Text(), comment="literal datatype IRI"),
        sa.Column("o_lang", sa.Text(), comment="language tag, lower case"),
        sa.Column("o_num", sa.Numeric(), comment="value of a numeric literal"),
        sa.Column("o_ts", sa.DateTime(timezone=True), comment="value of an xsd:dateTime or xsd:date literal"),
        sa.Column(
            "o_geom",
            Geometry("GEOMETRY", srid=4326, spatial_index=False),
            comment="value of a geometry literal (lon/lat)",
        ),
        sa.Column("source", sa.Text(), nullable=False, comment="the load that wrote it: file path or name"),
        sa.PrimaryKeyConstraint("id", name="pk_rdf_quad"),
    )
    md5_o = sa.text("md5(o)")
    op.create_index(
        "uq_rdf_quad_quad",
        "rdf_quad",
        ["s", "p", md5_o, "graph", "s_kind", "o_kind", sa.text("coalesce(o_dt, '')"), sa.text("coalesce(o_lang, '')")],
        unique=True,
    )
    op.create_index("ix_rdf_quad_p_s", "rdf_quad", ["p", "s"])
    op.create_index("ix_rdf_quad_o_p", "rdf_quad", [md5_o, "p"])
    op.create_index("ix_rdf_quad_graph", "rdf_quad", ["graph"])
    op.create_index(
        "ix_rdf_quad_o_geom",
        "rdf_quad",
        ["o_geom"],
        postgresql_using="gist",
        postgresql_where=sa.text("o_geom IS NOT NULL"),
    )
    op.create_index("ix_rdf_quad_p_o_num", "rdf_quad", ["p", "o_num"], postgresql_where=sa.text("o_num IS NOT NULL"))
    op.create_index("ix_rdf_quad_p_o_ts", "rdf_quad", ["p", "o_ts"], postgresql_where=sa.text("o_ts IS NOT NULL"))


def downgrade() -> None:
    """Drop ``rdf_quad`` and its indexes."""
    op.drop_table("rdf_quad")
