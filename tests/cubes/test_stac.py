"""Every published cube has a STAC Collection (datacube extension) beside its store, valid offline, read by pystac.

The collection is checked by pystac (a client of its own), against the core STAC schemas pystac bundles and the
datacube extension's schema bundled in ``cubes/schemas/stac``; the network is closed while validating.
"""

from __future__ import annotations

import copy
import json
import socket
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyproj
import pystac
import pytest
import xarray as xr
from pystac.extensions.datacube import DatacubeExtension

from cubes.stac import COLLECTION_FILE, DATACUBE_SCHEMA, cube_collection, validate
from esdl_testing.builds import publish_sst_cube


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Schemas must come from the disk: any URL opened fails the test."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"network access while validating STAC: {args[:1]}")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)  # (urllib3, which pystac prefers, resolves names first)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    """A small cube built and published with the library (OSTIA SST, yearly, 5 degrees)."""
    return publish_sst_cube(tmp_path_factory.mktemp("stac") / "sst.zarr")


def test_published_version_has_a_valid_collection(published: tuple[Any, Path]) -> None:
    spec, store = published
    path = store.parent / COLLECTION_FILE
    collection = pystac.Collection.from_file(str(path))
    assert collection.id == "sst-stac"
    assert collection.extra_fields["esdl:fingerprint"] == spec.fingerprint()
    assert collection.extent.spatial.bboxes == [[-100.0, -5.0, -30.0, 70.0]]
    interval = collection.extent.temporal.intervals[0]
    assert [t.isoformat() if t else None for t in interval] == [
        "2006-01-01T00:00:00+00:00",
        "2010-01-01T00:00:00+00:00",
    ]
    # the assets resolve to the published store and its quicklook
    data = collection.assets["zarr"]
    assert data.media_type == "application/vnd+zarr" and data.roles == ["data"]
    assert Path(data.get_absolute_href() or "").resolve() == store.resolve()
    thumb = collection.assets["thumbnail-sst"]
    assert thumb.roles == ["thumbnail"] and Path(thumb.get_absolute_href() or "").is_file()
    # the datacube extension, read by pystac
    assert DatacubeExtension.has_extension(collection)
    dims = json.loads(path.read_text())["cube:dimensions"]
    assert dims["time"] == {
        "type": "temporal",
        "extent": ["2006-01-01T00:00:00Z", "2010-01-01T00:00:00Z"],
        "step": "P1Y",
    }
    assert dims["lon"] == {
        "type": "spatial",
        "axis": "x",
        "extent": [-100.0, -30.0],
        "step": 5.0,
        "reference_system": 4326,
    }
    assert dims["lat"]["extent"] == [-5.0, 70.0] and dims["lat"]["axis"] == "y"
    variables = DatacubeExtension.ext(collection).variables or {}
    assert variables["sst"].dimensions == ["time", "lat", "lon"] and variables["sst"].unit == "K"
    sst = json.loads(path.read_text())["cube:variables"]["sst"]
    assert (sst["variable_type"], sst["data_type"], sst["nodata"]) == ("data", "float32", "nan")
    validate(json.loads(path.read_text()))


def synthetic(crs: pyproj.CRS) -> xr.Dataset:
    """A cube on a projected grid: 1 km cells, 8-day bins that restart every year (the last one short)."""
    starts = pd.to_datetime(["2020-12-18", "2020-12-26", "2021-01-01"])
    ends = pd.to_datetime(["2020-12-26", "2021-01-01", "2021-01-09"])
    x = np.arange(4) * 1000.0 + 500.0
    y = np.arange(3) * -1000.0 + 2500.0
    return xr.Dataset(
        {"ndvi": (("time", "y", "x"), np.zeros((3, 3, 4), "f4"), {"units": "1", "long_name": "NDVI"})},
        coords={
            "time": starts + (ends - starts) / 2,
            "y": y,
            "x": x,
            "time_bnds": (("time", "bnds"), np.stack([starts.values, ends.values], axis=1)),
        },
        attrs={
            "title": "synthetic",
            "summary": "a projected cube",
            "license": "CC-BY-4.0",
            "geospatial_lon_min": 10.0,
            "geospatial_lat_min": 50.0,
            "geospatial_lon_max": 10.1,
            "geospatial_lat_max": 50.05,
        },
    )


def test_projected_grid_irregular_bins_and_a_crs_without_code() -> None:
    laea = pyproj.CRS("EPSG:3035")
    collection = cube_collection(
        synthetic(laea), name="proj", crs=laea, period="8D", restart_yearly=True, fingerprint="f", thumbnails={}
    )
    dims = collection["cube:dimensions"]
    assert dims["time"]["step"] is None  # the bins restart every year: irregular, null per the extension
    assert dims["x"] == {
        "type": "spatial",
        "axis": "x",
        "extent": [0.0, 4000.0],
        "step": 1000.0,
        "reference_system": 3035,
    }
    assert dims["y"]["step"] == -1000.0 and dims["y"]["extent"] == [0.0, 3000.0]
    assert collection["license"] == "CC-BY-4.0" and collection["cube:variables"]["ndvi"]["description"] == "NDVI"
    validate(collection)
    custom = pyproj.CRS("+proj=laea +lat_0=52 +lon_0=10 +x_0=0 +y_0=0 +ellps=GRS80 +units=m")
    assert custom.to_epsg() is None
    collection = cube_collection(
        synthetic(custom), name="custom", crs=custom, period="1D", restart_yearly=False, fingerprint="f", thumbnails={}
    )
    assert collection["cube:dimensions"]["x"]["reference_system"].startswith("PROJCRS[")
    assert collection["cube:dimensions"]["time"]["step"] == "P1D"
    validate(collection)


def _valid() -> dict[str, Any]:
    crs = pyproj.CRS("EPSG:3035")
    return cube_collection(
        synthetic(crs), name="v", crs=crs, period="8D", restart_yearly=False, fingerprint="f", thumbnails={}
    )


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda c: c["cube:dimensions"]["x"].pop("type"), "type"),  # the extension's own rule
        (lambda c: c["cube:dimensions"]["x"].update(reference_system=[3035]), "reference_system"),
        (lambda c: c["cube:dimensions"]["x"].update(axis="w"), "w"),
        (lambda c: c["cube:variables"]["ndvi"].update(variable_type="raster"), "raster"),
        (lambda c: c["cube:variables"]["ndvi"].update(data_type="float"), "float"),
        (lambda c: c.pop("license"), "license"),  # the core schema's
        (lambda c: c["extent"]["spatial"].update(bbox=[[10.0, 50.0]]), "bbox"),
    ],
    ids=[
        "dimension-without-type",
        "reference-system-a-list",
        "axis-w",
        "variable-type",
        "data-type",
        "no-license",
        "short-bbox",
    ],
)
def test_invalid_collections_are_refused(change: Any, named: str) -> None:
    """Each change breaks one rule of the core or the datacube schema: refused, and the message says where."""
    collection = copy.deepcopy(_valid())
    validate(collection)
    change(collection)
    with pytest.raises(ValueError, match="invalid") as err:
        validate(collection)
    assert named in str(err.value)


def test_an_extension_without_a_bundled_schema_is_refused() -> None:
    collection = _valid()
    collection["stac_extensions"].append("https://stac-extensions.github.io/eo/v1.1.0/schema.json")
    with pytest.raises(ValueError, match="no bundled schema"):
        validate(collection)
    assert DATACUBE_SCHEMA in collection["stac_extensions"]


def test_the_network_guard_holds() -> None:
    """Without the bundled schemas pystac would download the extension's: the guard above stops it, so the passing
    tests did not download anything."""
    from pystac.validation.stac_validator import GetSchemaError, JsonSchemaSTACValidator

    with pytest.raises(GetSchemaError, match="network access"):
        JsonSchemaSTACValidator().validate(_valid(), pystac.STACObjectType.COLLECTION, "1.1.0", [DATACUBE_SCHEMA])


def test_derived_from_links() -> None:
    crs = pyproj.CRS("EPSG:3035")
    items = ["/data/stac/early/early.json", "https://example.org/stac/items/late.json"]
    collection = cube_collection(
        synthetic(crs),
        name="d",
        crs=crs,
        period="1D",
        restart_yearly=False,
        fingerprint="f",
        thumbnails={},
        derived_from=items,
    )
    assert collection["links"] == [
        {"rel": "derived_from", "href": href, "type": "application/geo+json"} for href in items
    ]
    validate(collection)


def test_a_cube_built_from_stac_items_links_to_them(tmp_path: Path) -> None:
    """Three GeoTIFF items of a static catalog, one day each, built into a cube: its collection has a
    ``derived_from`` link to each item read, and validates."""
    import datetime as dt

    import rioxarray  # noqa: F401  (the .rio accessor)

    from esdl_testing.builds import publish

    catalog = pystac.Catalog(id="days", description="three days")
    for day in (1, 2, 3):
        raster = tmp_path / "rasters" / f"d{day}.tif"
        raster.parent.mkdir(exist_ok=True)
        data = np.full((3, 4), float(day), dtype=np.float32)
        xr.DataArray(data, dims=("y", "x"), coords={"y": [12.5, 11.5, 10.5], "x": [0.5, 1.5, 2.5, 3.5]}).rio.write_crs(
            "EPSG:4326"
        ).rio.to_raster(raster)
        item = pystac.Item(
            id=f"d{day}",
            geometry={"type": "Polygon", "coordinates": [[[0, 10], [4, 10], [4, 13], [0, 13], [0, 10]]]},
            bbox=[0, 10, 4, 13],
            datetime=dt.datetime(2020, 1, day, 12, tzinfo=dt.UTC),
            properties={},
        )
        item.add_asset("data", pystac.Asset(href=str(raster), media_type=pystac.MediaType.COG))
        catalog.add_item(item)
    catalog.normalize_and_save(str(tmp_path / "stac"), catalog_type=pystac.CatalogType.ABSOLUTE_PUBLISHED)
    _, store = publish(
        {
            "name": "from-stac",
            "grid": {"bbox": [0, 10, 4, 13], "resolution": 1},
            "time": {"start": "2020-01-01", "end": "2020-01-03", "period": "1D"},
            "sources": {"days": {"kind": "stac", "path": str(tmp_path / "stac" / "catalog.json")}},
            "variables": [{"name": "v", "source": "days", "source_variable": "data", "units": "1"}],
            "chunks": {"time": 3, "y": 3, "x": 4},
        },
        tmp_path / "cube.zarr",
    )
    collection = json.loads((store.parent / COLLECTION_FILE).read_text())
    links = [link for link in collection["links"] if link["rel"] == "derived_from"]
    assert [link["href"] for link in links] == [str(tmp_path / "stac" / f"d{d}" / f"d{d}.json") for d in (1, 2, 3)]
    validate(collection)
