"""The catalogue database: the project-local cluster, migrations against the models, keys and indexes, COPY."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from esdl_testing.cli import run_esdl
from semantic.errors import DatabaseError
from semantic.store.copy import Column, copy_binary
from semantic.store.db import check_schema, current_revision, downgrade, head_revision, make_engine, upgrade
from semantic.store.models import Base


@pytest.mark.db  # starts its own PostgreSQL through `esdl db up`
@pytest.mark.slow
def test_local_cluster_lifecycle_through_the_cli(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ESDL_DATABASE_URL"}
    env["ESDL_HOME"] = str(tmp_path / "state")
    try:
        up = run_esdl("db", "up", env=env)
        assert up.returncode == 0, up.stderr
        assert f"schema at {head_revision()}" in up.stdout
        status = json.loads(run_esdl("db", "status", env=env).stdout)
        assert status["running"] and status["revision"] == head_revision()
        assert "password" not in json.dumps(status)
        state = json.loads((tmp_path / "state" / "postgres.json").read_text())
        assert oct((tmp_path / "state" / "postgres.json").stat().st_mode & 0o777) == "0o600"
        engine = make_engine(f"postgresql://esdl:{state['password']}@127.0.0.1:{state['port']}/esdl")
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO region (source, name, kind, geom, area_m2, properties) VALUES "
                    "('s', 'r', 'region', ST_Multi(ST_MakeEnvelope(0, 0, 1, 1, 4326)), 1, '{}')"
                )
            )
        engine.dispose()
        assert "stopped" in run_esdl("db", "down", env=env).stdout
        assert json.loads(run_esdl("db", "status", env=env).stdout)["running"] is False
        assert run_esdl("db", "up", env=env).returncode == 0  # the data survives a restart
        with make_engine(f"postgresql://esdl:{state['password']}@127.0.0.1:{state['port']}/esdl").connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM region")).scalar() == 1
    finally:
        from semantic.store.local import LocalCluster

        # the server and its data (kept by "db down"; as root it may live under /var/lib/esdl, outside tmp_path)
        LocalCluster(tmp_path / "state").destroy()


def test_db_up_refuses_when_an_external_database_is_configured() -> None:
    env = {**os.environ, "ESDL_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    run = run_esdl("db", "up", env=env)
    assert run.returncode == 2 and "ESDL_DATABASE_URL" in run.stderr


def test_unreachable_database_is_a_clear_error() -> None:
    env = {**os.environ, "ESDL_DATABASE_URL": "postgresql://nobody:x@127.0.0.1:1/none"}
    run = run_esdl("catalog", "list", env=env)
    assert run.returncode == 2 and "cannot reach the database" in run.stderr


def test_migrations_create_exactly_the_models(catalog_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(catalog_url)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "include_object": lambda obj, name, type_, r, c: not (type_ == "table" and name == "spatial_ref_sys"),
            },
        )
        assert compare_metadata(ctx, Base.metadata) == []
    engine.dispose()


def test_downgrade_and_upgrade_round_trip(catalog_url: str) -> None:
    engine = make_engine(catalog_url)
    assert downgrade(engine, "base") is None
    with pytest.raises(DatabaseError, match="run `esdl db upgrade`"):
        check_schema(engine)
    assert upgrade(engine) == head_revision() == current_revision(engine)
    check_schema(engine)
    engine.dispose()


def test_every_table_has_keys_and_every_geometry_a_gist_index(catalog_url: str) -> None:
    engine = make_engine(catalog_url)
    insp = sa.inspect(engine)
    tables = {"cube", "variable", "region", "zonal_stat", "feature"}
    assert tables <= set(insp.get_table_names())
    for table in tables:
        assert insp.get_pk_constraint(table)["constrained_columns"], table
    assert {tuple(u["column_names"]) for u in insp.get_unique_constraints("cube")} == {("name", "version")}
    assert {tuple(u["column_names"]) for u in insp.get_unique_constraints("region")} == {("source", "name")}
    assert {tuple(u["column_names"]) for u in insp.get_unique_constraints("variable")} == {("cube_id", "name")}
    assert insp.get_pk_constraint("zonal_stat")["constrained_columns"] == ["variable_id", "region_id", "time"]
    fks = {(t, fk["referred_table"], fk["options"].get("ondelete")) for t in tables for fk in insp.get_foreign_keys(t)}
    assert fks == {
        ("variable", "cube", "CASCADE"),
        ("zonal_stat", "variable", "CASCADE"),
        ("zonal_stat", "region", "CASCADE"),
        ("feature", "variable", "CASCADE"),
    }
    with engine.connect() as conn:
        geoms = conn.execute(
            sa.text("SELECT f_table_name, f_geometry_column, srid, type FROM geometry_columns ORDER BY 1")
        ).all()
        assert [(g[0], g[2], g[3]) for g in geoms] == [
            ("cube", 4326, "MULTIPOLYGON"),
            ("feature", 4326, "MULTIPOLYGON"),
            ("rdf_quad", 4326, "GEOMETRY"),
            ("region", 4326, "MULTIPOLYGON"),
        ]
        for table, column, _, _ in geoms:
            gist = conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_indexes WHERE tablename = :t AND indexdef LIKE '%USING gist%' "
                    "AND indexdef LIKE :c"
                ),
                {"t": table, "c": f"%({column})%"},
            ).scalar()
            assert gist == 1, (table, column)
    engine.dispose()


def test_binary_copy_round_trips_values_and_nulls(catalog_url: str) -> None:
    rng = np.random.default_rng(0)
    n = 10_000
    a = np.arange(n, dtype=np.int64) * 1_000_003
    b = rng.integers(-(2**31), 2**31 - 1, n).astype(np.int32)
    c = rng.normal(size=n)
    c[rng.random(n) < 0.3] = np.nan
    d = np.datetime64("1999-12-31T23:59:59.123456") + rng.integers(0, 10**15, n).astype("timedelta64[us]")
    engine = make_engine(catalog_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TEMP TABLE t (a int8, b int4, c float8, d timestamptz)"))
        cols = [Column("a", "int8", a), Column("b", "int4", b), Column("c", "float8", c), Column("d", "timestamptz", d)]
        assert copy_binary(conn, "t", cols, chunk_rows=3_000) == n
        rows = conn.execute(sa.text("SELECT a, b, c, d FROM t ORDER BY a")).all()
    assert [r.a for r in rows] == a.tolist()
    assert [r.b for r in rows] == b.tolist()
    got_c = np.array([np.nan if r.c is None else r.c for r in rows])
    np.testing.assert_array_equal(got_c, c)  # NaN became NULL, values are bit-exact
    got_d = np.array([np.datetime64(r.d.replace(tzinfo=None), "us") for r in rows])
    np.testing.assert_array_equal(got_d, d)
    engine.dispose()


def test_sql_iri_safe_encodes_like_the_mappings(catalog_url: str) -> None:
    """esdl_iri_safe (migration 0005) gives the IRI-safe form of semantic.mapping.r2rml.iri_safe: every ASCII
    character but the unreserved ones percent-encoded (``%`` itself included), letters beyond ASCII kept; and the
    decoder's table (``IRI_SAFE``, for IRI templates built in Python) encodes exactly as esdl_iri_safe."""
    from semantic.mapping.r2rml import iri_safe
    from semantic.sparql.decode import IRI_SAFE

    values = ["".join(chr(c) for c in range(1, 128)), "lst>300", "100%", "%25", "a b/c?d#e", "Zürich–Ørsted 東京", ""]
    odd = "\ue000\ufffd\U0010fffd"  # beyond ASCII but not ucschar: kept by esdl_iri_safe and the decoder alike
    values.append(odd)
    engine = make_engine(catalog_url)
    with engine.connect() as conn:
        for value in values:
            encoded = conn.execute(sa.text("SELECT esdl_iri_safe(:v)"), {"v": value}).scalar_one()
            assert encoded == value.translate(IRI_SAFE)  # the decoder's encoding of lifted IRI templates
            if value != odd:
                assert encoded == iri_safe(value)
        assert conn.execute(sa.text("SELECT esdl_iri_safe(NULL)")).scalar_one() is None
