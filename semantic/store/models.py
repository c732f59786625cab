"""The catalogue schema (SQLAlchemy 2 + GeoAlchemy2).

Every table has a primary key, foreign keys with ``ON DELETE CASCADE`` from facts to what they describe, a
unique natural key, and a GiST index on each geometry (all in EPSG:4326). Facts (``zonal_stat``, ``feature``)
are keyed by their natural keys rather than by sequences, so reloading the same cube gives exactly the same
rows. The GeoSPARQL layer's mappings rely on these keys.

The schema is created by the Alembic migrations in ``migrations/``; a test checks they match these models.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Double,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    Numeric,
    SmallInteger,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with deterministic constraint names (migrations refer to them)."""

    metadata = MetaData(naming_convention=NAMING)


def _geometry(kind: str) -> Any:
    # spatial_index=False: the GiST indexes are declared explicitly, so migrations and models name them alike
    return Geometry(kind, srid=4326, spatial_index=False)


class Cube(Base):
    """A published data cube: where it is, what it covers, and which spec built it."""

    __tablename__ = "cube"
    __table_args__ = (
        UniqueConstraint("name", "version"),
        Index("ix_cube_footprint", "footprint", postgresql_using="gist"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    version: Mapped[str] = mapped_column(Text, nullable=False)
    title: Mapped[str | None] = mapped_column(Text)
    location: Mapped[str] = mapped_column(Text, nullable=False, comment="published path of the Zarr store")
    store_path: Mapped[str] = mapped_column(Text, nullable=False, comment="the versioned store it points at")
    crs: Mapped[str] = mapped_column(Text, nullable=False, comment="grid CRS as an authority code or WKT")
    footprint: Mapped[Any] = mapped_column(_geometry("MULTIPOLYGON"), nullable=False)
    resolution_x: Mapped[float] = mapped_column(Double, nullable=False)
    resolution_y: Mapped[float] = mapped_column(Double, nullable=False)
    time_start: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    time_end: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    time_steps: Mapped[int] = mapped_column(Integer, nullable=False)
    spec_hash: Mapped[str] = mapped_column(Text, nullable=False)
    created: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    attrs: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    stac: Mapped[dict[str, Any] | None] = mapped_column(
        JSONB, comment="the STAC Collection written with the cube, if any"
    )


class Variable(Base):
    """A data variable of a cube, with its summary statistics over the whole cube."""

    __tablename__ = "variable"
    __table_args__ = (UniqueConstraint("cube_id", "name"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    cube_id: Mapped[int] = mapped_column(ForeignKey("cube.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    units: Mapped[str | None] = mapped_column(Text)
    long_name: Mapped[str | None] = mapped_column(Text)
    standard_name: Mapped[str | None] = mapped_column(Text)
    spatial_aggregation: Mapped[str | None] = mapped_column(Text)
    temporal_aggregation: Mapped[str | None] = mapped_column(Text)
    dtype: Mapped[str] = mapped_column(Text, nullable=False)
    valid_fraction: Mapped[float | None] = mapped_column(Double)
    min: Mapped[float | None] = mapped_column(Double)
    max: Mapped[float | None] = mapped_column(Double)
    mean: Mapped[float | None] = mapped_column(Double)
    std: Mapped[float | None] = mapped_column(Double)


class Region(Base):
    """A named polygon of a region set (``source``): a basin, a country, a biome."""

    __tablename__ = "region"
    __table_args__ = (
        UniqueConstraint("source", "name"),
        Index("ix_region_geom", "geom", postgresql_using="gist"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    source: Mapped[str] = mapped_column(Text, nullable=False, comment="the region set, e.g. the file it came from")
    name: Mapped[str] = mapped_column(Text, nullable=False)
    kind: Mapped[str] = mapped_column(Text, nullable=False, default="region")
    geom: Mapped[Any] = mapped_column(_geometry("MULTIPOLYGON"), nullable=False)
    area_m2: Mapped[float] = mapped_column(Double, nullable=False, comment="geodesic area on WGS84")
    properties: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)


class ZonalStat(Base):
    """Coverage- and cell-area-weighted statistics of one variable over one region at one time step."""

    __tablename__ = "zonal_stat"
    __table_args__ = (
        Index("ix_zonal_stat_region_id", "region_id"),
        CheckConstraint("valid_count >= 0", name="valid_count"),
    )

    variable_id: Mapped[int] = mapped_column(ForeignKey("variable.id", ondelete="CASCADE"), primary_key=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id", ondelete="CASCADE"), primary_key=True)
    time: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    mean: Mapped[float | None] = mapped_column(Double)
    min: Mapped[float | None] = mapped_column(Double)
    max: Mapped[float | None] = mapped_column(Double)
    std: Mapped[float | None] = mapped_column(Double)
    valid_count: Mapped[int] = mapped_column(Integer, nullable=False, comment="cells with a valid value")
    covered_area: Mapped[float] = mapped_column(Double, nullable=False, comment="m² of the region with valid data")


class Feature(Base):
    """A vector feature derived from a cube variable: a connected area where a threshold holds at one time."""

    __tablename__ = "feature"
    __table_args__ = (Index("ix_feature_geom", "geom", postgresql_using="gist"),)

    variable_id: Mapped[int] = mapped_column(ForeignKey("variable.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(Text, primary_key=True, comment="the threshold, e.g. 'ndvi<0.2'")
    time: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    part: Mapped[int] = mapped_column(Integer, primary_key=True, comment="component number, stable across loads")
    geom: Mapped[Any] = mapped_column(_geometry("MULTIPOLYGON"), nullable=False)
    value: Mapped[float | None] = mapped_column(Double, comment="mean of the variable over the feature")
    n_cells: Mapped[int] = mapped_column(Integer, nullable=False)
    area_m2: Mapped[float] = mapped_column(Double, nullable=False)


class RdfQuad(Base):
    """One quad of an RDF file loaded into the graph: subject, predicate, object term columns, and named graph.

    The object has the term columns of docs/sparql.md (kind, lexical form, datatype, language, and the typed
    values ``o_num``, ``o_ts``, ``o_geom``). Quads are a set: a unique index over the graph and the terms (the
    object's lexical form through ``md5``, as literals can be long) makes a reload insert nothing.
    """

    __tablename__ = "rdf_quad"
    __table_args__ = (
        # subject first: the index of set semantics also serves lookups by subject and by subject and predicate
        Index(
            "uq_rdf_quad_quad",
            "s",
            "p",
            text("md5(o)"),
            "graph",
            "s_kind",
            "o_kind",
            text("coalesce(o_dt, '')"),
            text("coalesce(o_lang, '')"),
            unique=True,
        ),
        Index("ix_rdf_quad_p_s", "p", "s"),
        Index("ix_rdf_quad_o_p", text("md5(o)"), "p"),
        Index("ix_rdf_quad_graph", "graph"),
        Index("ix_rdf_quad_o_geom", "o_geom", postgresql_using="gist", postgresql_where=text("o_geom IS NOT NULL")),
        Index("ix_rdf_quad_p_o_num", "p", "o_num", postgresql_where=text("o_num IS NOT NULL")),
        Index("ix_rdf_quad_p_o_ts", "p", "o_ts", postgresql_where=text("o_ts IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    graph: Mapped[str] = mapped_column(Text, nullable=False, comment="named graph IRI; '' for the default graph")
    s_kind: Mapped[int] = mapped_column(SmallInteger, nullable=False, comment="1 IRI, 2 blank node")
    s: Mapped[str] = mapped_column(Text, nullable=False)
    p: Mapped[str] = mapped_column(Text, nullable=False)
    o_kind: Mapped[int] = mapped_column(SmallInteger, nullable=False, comment="1 IRI, 2 blank node, 3 literal")
    o: Mapped[str] = mapped_column(Text, nullable=False, comment="IRI, blank node label or lexical form")
    o_dt: Mapped[str | None] = mapped_column(Text, comment="literal datatype IRI")
    o_lang: Mapped[str | None] = mapped_column(Text, comment="language tag, lower case")
    o_num: Mapped[Decimal | None] = mapped_column(Numeric, comment="value of a numeric literal")
    o_ts: Mapped[dt.datetime | None] = mapped_column(
        DateTime(timezone=True), comment="value of an xsd:dateTime or xsd:date literal"
    )
    o_geom: Mapped[Any] = mapped_column(
        _geometry("GEOMETRY"), nullable=True, comment="value of a geometry literal (lon/lat)"
    )
    source: Mapped[str] = mapped_column(Text, nullable=False, comment="the load that wrote it: file path or name")


class RdfSignature(Base):
    """What ``rdf_quad`` holds, per graph: its predicates, and for ``rdf:type`` its classes, with quad counts.

    Kept by statement-level triggers on ``rdf_quad`` (migration ``0004``). The SPARQL engine reads it to leave
    out the quad table's branches of a pattern the loaded RDF cannot match (docs/sparql.md).
    """

    __tablename__ = "rdf_signature"

    graph: Mapped[str] = mapped_column(Text, primary_key=True, comment="named graph IRI; '' for the default graph")
    p: Mapped[str] = mapped_column(Text, primary_key=True, comment="predicate IRI")
    cls: Mapped[str] = mapped_column(Text, primary_key=True, comment="the class (object) of rdf:type quads, else ''")
    n: Mapped[int] = mapped_column(BigInteger, nullable=False, comment="quads with this graph, predicate and class")


class RdfSignatureState(Base):
    """One row: ``version`` grows whenever a row of ``rdf_signature`` appears or goes (in the same transaction)."""

    __tablename__ = "rdf_signature_state"
    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, nullable=False)
