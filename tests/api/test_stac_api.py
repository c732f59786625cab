"""``/stac``: the catalogue load keeps each build's STAC Collection, and the real ``esdl serve`` serves a catalog of
them that pystac reads over HTTP (a client of its own), down to the Zarr asset of the latest version."""

from __future__ import annotations

from pathlib import Path

import httpx
import pystac
import sqlalchemy as sa
from pystac.extensions.datacube import DatacubeExtension

from cubes.stac import validate
from esdl_testing.builds import publish_sst_cube
from esdl_testing.servers import running_server
from semantic.store.catalog import describe_cube, register_cube


def load(engine: sa.Engine, location: Path) -> None:
    """What the catalogue load does with a cube's description: describe it, register it."""
    record, _ = describe_cube(location, with_stats=False)
    with engine.begin() as conn:
        register_cube(conn, record)


def test_catalog_of_published_cubes(catalog_url: str, catalog_engine: sa.Engine, tmp_path: Path) -> None:
    first, first_store = publish_sst_cube(tmp_path / "sst.zarr", name="sst-one")
    load(catalog_engine, tmp_path / "sst.zarr")
    _, other_store = publish_sst_cube(tmp_path / "other.zarr", name="sst-two")
    load(catalog_engine, tmp_path / "other.zarr")
    with catalog_engine.begin() as conn:
        # a cube registered without a collection (built before builds wrote them): not in the catalog
        conn.execute(
            sa.text(
                "INSERT INTO cube (name, version, title, location, store_path, crs, footprint, resolution_x, "
                "resolution_y, time_start, time_end, time_steps, spec_hash, created, attrs) VALUES ('old', '1', "
                "'old', '/nowhere', '/nowhere/cube.zarr', 'EPSG:4326', ST_Multi(ST_MakeEnvelope(0, 0, 1, 1, 4326)), "
                "1, 1, now(), now(), 1, 'x', now(), '{}')"
            )
        )
        stored = conn.execute(sa.text("SELECT stac FROM cube WHERE name = 'sst-one'")).scalar_one()
    assert stored["esdl:fingerprint"] == first.fingerprint()

    with running_server(catalog_url, tmp_path / "serve.log") as base:
        catalog = pystac.Catalog.from_file(f"{base}/stac")
        children = {c.id: c for c in catalog.get_children()}
        assert set(children) == {"sst-one", "sst-two"}
        one = children["sst-one"]
        assert isinstance(one, pystac.Collection)
        assert isinstance(children["sst-two"], pystac.Collection)
        assert one.get_self_href() == f"{base}/stac/collections/sst-one"
        assert DatacubeExtension.has_extension(one)
        # the assets point at the published version on disk
        assert Path(one.assets["zarr"].href) == first_store
        assert Path(one.assets["thumbnail-sst"].href).is_file()
        # what the server sends validates, links and absolute hrefs included
        served = httpx.get(f"{base}/stac/collections/sst-one").json()
        validate(served)
        assert {link["rel"] for link in served["links"]} == {"self", "root", "parent"}
        assert Path(children["sst-two"].assets["zarr"].href) == other_store
        missing = httpx.get(f"{base}/stac/collections/nothing")
        assert missing.status_code == 404 and "nothing" in missing.json()["message"]
        assert httpx.get(f"{base}/stac/collections/old").status_code == 404


def test_a_new_version_replaces_the_served_one(catalog_url: str, catalog_engine: sa.Engine, tmp_path: Path) -> None:
    """Rebuilding a cube publishes a new version; the catalogue load of it updates the collection served."""
    out = tmp_path / "sst.zarr"
    _, first = publish_sst_cube(out, name="sst-v")
    load(catalog_engine, out)
    # a rebuild from another spec (a smaller grid: another fingerprint) publishes a new version folder
    _, second = publish_sst_cube(out, name="sst-v", bbox=(-100, -5, -40, 70))
    assert second.parent != first.parent
    load(catalog_engine, out)
    with running_server(catalog_url, tmp_path / "serve.log") as base:
        served = httpx.get(f"{base}/stac/collections/sst-v").json()
    assert Path(served["assets"]["zarr"]["href"]) == second
    assert served["extent"]["spatial"]["bbox"] == [[-100.0, -5.0, -40.0, 70.0]]


def test_odd_names_answer_404(catalog_engine: sa.Engine) -> None:
    """Names no cube can have (a NUL, which PostgreSQL text refuses; very long; path tricks): 404, never 5xx."""
    from fastapi.testclient import TestClient

    from esdl.api.app import create_app
    from esdl.api.settings import SparqlSettings

    app = create_app(SparqlSettings(_env_file=None), engine=catalog_engine)  # type: ignore[call-arg]
    with TestClient(app) as client:
        for name in ("%00", "a%00b", "x" * 5000, "%F0%9F%8C%8D", "%FF", "%27%3B%20DROP%20TABLE%20cube%3B--"):
            answer = client.get(f"/stac/collections/{name}")
            assert answer.status_code == 404, (name, answer.status_code, answer.text[:200])
            assert answer.json()["error"] == "not-found"
        # paths that leave the route altogether (a decoded slash): the framework's own 404, still JSON
        for path in ("/stac/collections/..%2F..%2Fetc", "/stac/collections/a%2Fb"):
            answer = client.get(path)
            assert answer.status_code == 404 and answer.json(), path
        assert client.get("/stac/collections/x").json()["error"] == "not-found"
        assert client.get("/stac").json()["links"][2:] == []  # no cubes: no children
