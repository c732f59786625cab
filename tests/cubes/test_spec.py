"""The cube specification: validation, error paths, path resolution, fingerprint (the time axis and the grid it
describes: test_timeaxis.py, test_grid.py)."""

from __future__ import annotations

import copy
import datetime as dt
import os
import re
from pathlib import Path
from typing import Any

import pyproj
import pytest
import yaml

import cubes
from cubes.errors import CubeError, SpecError
from cubes.spec import CubeSpec, load_spec, parse_spec
from cubes.timeaxis import build_time_axis
from esdl_testing.arrays import dt64

DEMO = Path(cubes.__file__).parent / "specs" / "demo.yaml"

BASE: dict[str, Any] = {
    "name": "test-cube",
    "grid": {"crs": "EPSG:4326", "bbox": [-10.0, 30.0, 10.0, 50.0], "resolution": 0.5},
    "time": {"start": "2020-01-01", "end": "2020-12-31", "period": "8D", "restart_yearly": True},
    "sources": {"syn": {"kind": "synthetic"}, "file": {"path": "/data/file.nc"}},
    "variables": [
        {"name": "a", "source": "syn"},
        {"name": "b", "source": "file", "source_variable": "bee", "units": "K", "count_valid": True},
    ],
    "chunks": {"time": 4, "y": 20, "x": 20},
}


def spec_dict(**changes: Any) -> dict[str, Any]:
    """A deep copy of :data:`BASE` with dotted-path changes; the value ``DELETE`` removes the key."""
    data = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        keys = dotted.split("__")
        node: Any = data
        for key in keys[:-1]:
            node = node[int(key)] if isinstance(node, list) else node[key]
        last: Any = int(keys[-1]) if isinstance(node, list) else keys[-1]
        if value is DELETE:
            del node[last]
        else:
            node[last] = value
    return data


DELETE = object()


def test_base_spec_is_valid() -> None:
    spec = parse_spec(BASE)
    assert isinstance(spec, CubeSpec)
    assert spec.grid.res == (0.5, 0.5)
    assert spec.grid.shape == (40, 40)
    assert spec.time.start == dt.date(2020, 1, 1)
    assert spec.variables[1].source_name == "bee"
    assert spec.variables[0].source_name == "a"
    assert spec.variables[0].spatial_aggregation == "mean"
    assert spec.shards is None


def test_demo_spec_loads() -> None:
    spec = load_spec(DEMO)
    assert spec.name == "esdl-demo"
    assert spec.grid.crs == "EPSG:4326"
    assert spec.grid.bbox == (-105.0, -5.0, -35.0, 65.0)
    assert spec.grid.res == (0.5, 0.5)
    assert spec.grid.shape == (140, 140)
    assert spec.grid.is_geographic
    assert (spec.time.start, spec.time.end, spec.time.period) == (dt.date(2006, 1, 1), dt.date(2016, 12, 31), "1M")
    assert set(spec.sources) == {"ostia", "hadcm3", "seviri"}
    # pkg:// URLs are not local paths and stay as they are
    for src in spec.sources.values():
        assert src.path is not None and src.path.startswith("pkg://iris_sample_data/sample_data/")
    assert [v.name for v in spec.variables] == ["sst", "air_temperature", "toa_bt"]
    assert [v.source_name for v in spec.variables] == ["surface_temperature", "air_temperature", "data"]
    assert spec.variables[0].count_valid
    assert spec.variables[2].temporal_aggregation == "max"
    assert (spec.chunks.time, spec.chunks.y, spec.chunks.x) == (12, 70, 70)
    # the relative output is resolved against the spec file's folder
    assert spec.output == os.path.normpath(DEMO.parent / "../../out/esdl-demo.zarr")
    assert Path(spec.output).is_absolute()
    assert spec.metadata["license"] == "CC-BY-4.0"


def test_demo_time_axis_is_monthly() -> None:
    axis = build_time_axis(load_spec(DEMO).time)
    assert axis.size == 11 * 12
    assert axis.starts[0] == dt64("2006-01-01")
    assert axis.ends[-1] == dt64("2017-01-01")


def test_relative_paths_resolve(tmp_path: Path) -> None:
    folder = tmp_path / "specs"
    folder.mkdir()
    data = spec_dict()
    data["sources"] = {
        "rel": {"path": "../data/a.nc"},
        "glob": {"path": "data/part_*.nc"},
        "abs": {"path": "/abs/b.zarr"},
        "url": {"path": "https://example.org/c.nc"},
        "pkg": {"path": "pkg://iris_sample_data/sample_data/ostia_monthly.nc"},
        "syn": {"kind": "synthetic"},
    }
    data["variables"] = [{"name": f"v{i}", "source": key} for i, key in enumerate(data["sources"])]
    data["output"] = "out/cube.zarr"
    path = folder / "cube.yaml"
    path.write_text(yaml.safe_dump(data))

    spec = load_spec(path)
    paths = {key: src.path for key, src in spec.sources.items()}
    assert paths == {
        "rel": str(tmp_path / "data" / "a.nc"),
        "glob": str(folder / "data" / "part_*.nc"),
        "abs": "/abs/b.zarr",
        "url": "https://example.org/c.nc",
        "pkg": "pkg://iris_sample_data/sample_data/ostia_monthly.nc",
        "syn": None,
    }
    assert spec.output == str(folder / "out" / "cube.zarr")


def test_relative_paths_resolve_from_a_relative_spec_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "sub").mkdir()
    data = spec_dict(output="s3://bucket/cube.zarr")
    data["sources"]["file"]["path"] = "x.nc"
    (tmp_path / "sub" / "c.yaml").write_text(yaml.safe_dump(data))
    monkeypatch.chdir(tmp_path)
    spec = load_spec("sub/c.yaml")
    assert spec.sources["file"].path == str(tmp_path / "sub" / "x.nc")
    assert spec.output == "s3://bucket/cube.zarr"  # URLs are left alone


def test_parse_spec_does_not_resolve_paths() -> None:
    spec = parse_spec(spec_dict(sources__file__path="rel/x.nc", output="rel/out.zarr"))
    assert spec.sources["file"].path == "rel/x.nc"
    assert spec.output == "rel/out.zarr"


def test_crs_and_resolution_forms() -> None:
    spec = parse_spec(spec_dict(grid__crs=3035, grid__bbox=[0, 0, 2000, 1000], grid__resolution=[500, 250]))
    assert spec.grid.crs == "EPSG:3035"
    assert not spec.grid.is_geographic
    assert spec.grid.res == (500.0, 250.0)
    assert spec.grid.shape == (4, 4)
    assert spec.grid.pyproj_crs.equals(pyproj.CRS.from_epsg(3035))
    assert parse_spec(spec_dict(grid__crs="4326")).grid.crs == "EPSG:4326"


INVALID = [
    pytest.param({"grid": DELETE}, r"grid: Field required", id="missing-grid"),
    pytest.param({"time": DELETE}, r"time: Field required", id="missing-time"),
    pytest.param({"name": "bad name!"}, r"name: String should match pattern", id="bad-cube-name"),
    pytest.param(
        {"grid__bbox": [10.0, 30.0, -10.0, 50.0]}, r"grid: bbox must be \[xmin, ymin, xmax, ymax\]", id="x-order"
    ),
    pytest.param({"grid__bbox": [-10.0, 50.0, 10.0, 30.0]}, r"grid: bbox must be", id="y-order"),
    pytest.param({"grid__bbox": [-10.0, 30.0, 10.0]}, r"grid\.bbox", id="bbox-3-values"),
    pytest.param(
        {"grid__bbox": [-10.0, 30.0, 10.2, 50.0]}, r"grid: bbox x extent 20\.2 is not a whole multiple", id="x-extent"
    ),
    pytest.param(
        {"grid__resolution": [0.5, 0.3]},
        r"grid: bbox y extent 20\.0 is not a whole multiple of resolution 0\.3",
        id="y-extent",
    ),
    pytest.param({"grid__resolution": -0.5}, r"grid\.resolution.*resolution must be positive", id="negative-res"),
    pytest.param({"grid__crs": "EPSG:999999"}, r"grid\.crs: unknown CRS 'EPSG:999999'", id="unknown-epsg"),
    pytest.param({"grid__crs": "not a crs"}, r"grid\.crs: unknown CRS", id="unknown-crs"),
    pytest.param({"grid__foo": 1}, r"grid\.foo: Extra inputs are not permitted", id="extra-grid-key"),
    pytest.param({"time__period": "8W"}, r"time\.period: period '8W' is not of the form", id="period-unit"),
    pytest.param({"time__period": "0D"}, r"time\.period: period '0D'", id="period-zero"),
    pytest.param({"time__period": "D"}, r"time\.period", id="period-no-number"),
    pytest.param({"time__end": "2019-12-31"}, r"time: end must not be before start", id="end-before-start"),
    pytest.param({"time__start": "2020-02-30"}, r"time\.start", id="bad-date"),
    pytest.param({"time__period": "1M"}, r"time: restart_yearly applies only to day periods", id="restart-month"),
    pytest.param({"time__period": "1Y"}, r"time: restart_yearly applies only to day periods", id="restart-year"),
    pytest.param(
        {"variables__1__source": "nope"},
        r"variables\.1\.source: unknown source 'nope' \(known: file, syn\)",
        id="unknown-source",
    ),
    pytest.param({"variables__1__name": "a"}, r"variables\.1\.name: duplicate variable 'a'", id="duplicate"),
    pytest.param(
        {"variables__0__name": "b_count"}, r"variables\.1\.name: duplicate variable 'b_count'", id="dup-count"
    ),
    pytest.param({"variables__0__name": "1abc"}, r"variables\.0\.name: String should match pattern", id="bad-var-name"),
    pytest.param({"variables__0__name": "a-b"}, r"variables\.0\.name", id="bad-var-name-dash"),
    pytest.param({"variables__0__spatial_aggregation": "median"}, r"variables\.0\.spatial_aggregation", id="bad-agg"),
    pytest.param({"variables__1__temporal_aggregation": "first"}, r"variables\.1\.temporal_aggregation", id="bad-tagg"),
    pytest.param(
        {"variables__1__colour": "red"}, r"variables\.1\.colour: Extra inputs are not permitted", id="extra-var-key"
    ),
    pytest.param({"variables": []}, r"variables: List should have at least 1 item", id="no-variables"),
    pytest.param(
        {"sources__file__path": DELETE}, r"sources\.file: path is required unless kind is 'synthetic'", id="no-path"
    ),
    pytest.param({"sources__file__opts": {}}, r"sources\.file\.opts: Extra inputs", id="extra-source-key"),
    pytest.param({"colour": "red"}, r"colour: Extra inputs are not permitted", id="extra-top-key"),
    pytest.param({"chunks__time": 0}, r"chunks\.time: Input should be greater than or equal to 1", id="chunk-zero"),
    pytest.param(
        {"shards": {"time": 4, "y": 20, "x": 30}}, r"shards\.x must be a multiple of chunks\.x", id="shards-x"
    ),
    pytest.param(
        {"shards": {"time": 6, "y": 40, "x": 40}}, r"shards\.time must be a multiple of chunks\.time", id="shards-t"
    ),
]


@pytest.mark.parametrize(("changes", "pattern"), INVALID)
def test_invalid_spec_names_the_field(changes: dict[str, Any], pattern: str) -> None:
    with pytest.raises(SpecError, match=pattern) as info:
        parse_spec(spec_dict(**changes), origin="my.yaml")
    message = str(info.value)
    assert message.startswith("my.yaml: invalid cube spec: ")
    assert isinstance(info.value, CubeError)


def test_several_errors_are_all_reported() -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(spec_dict(grid__crs="nonsense", time__period="3W", chunks__x=0))
    message = str(info.value)
    for path in ("grid.crs", "time.period", "chunks.x"):
        assert re.search(rf"(^|: |; ){re.escape(path)}: ", message), (path, message)


def test_valid_shards() -> None:
    spec = parse_spec(spec_dict(shards={"time": 8, "y": 40, "x": 20}))
    assert spec.shards is not None and (spec.shards.time, spec.shards.y, spec.shards.x) == (8, 40, 20)


@pytest.mark.parametrize("value", [[1, 2], "text", 3, None])
def test_parse_spec_rejects_non_mappings(value: Any) -> None:
    with pytest.raises(SpecError, match="expected a mapping at the top level"):
        parse_spec(value)


@pytest.mark.parametrize(("text", "kind"), [("- a\n- b\n", "list"), ("just text\n", "str"), ("", "NoneType")])
def test_load_spec_rejects_non_mapping_yaml(tmp_path: Path, text: str, kind: str) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    with pytest.raises(SpecError, match=rf"{re.escape(str(path))}: expected a mapping at the top level, got {kind}"):
        load_spec(path)


def test_load_spec_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    with pytest.raises(SpecError, match=rf"{re.escape(str(path))}: cannot read spec"):
        load_spec(path)


def test_load_spec_unreadable_directory(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="cannot read spec"):
        load_spec(tmp_path)


def test_load_spec_invalid_yaml(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\ngrid: [unclosed\n  bbox: {\n")
    with pytest.raises(SpecError, match=rf"{re.escape(str(path))}: not valid YAML"):
        load_spec(path)


def test_load_spec_invalid_content_names_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(spec_dict(time__period="8X")))
    with pytest.raises(SpecError, match=rf"{re.escape(str(path))}: invalid cube spec: time\.period"):
        load_spec(path)


def test_spec_is_frozen() -> None:
    spec = parse_spec(BASE)
    with pytest.raises(Exception):  # noqa: B017  (pydantic's ValidationError for frozen instances)
        spec.name = "other"  # type: ignore[misc]


def test_fingerprint() -> None:
    spec = parse_spec(BASE)
    fp = spec.fingerprint()
    assert re.fullmatch(r"[0-9a-f]{16}", fp)
    assert parse_spec(copy.deepcopy(BASE)).fingerprint() == fp  # deterministic
    assert spec.with_output("/somewhere/else.zarr").fingerprint() == fp  # output does not count
    assert parse_spec(spec_dict(output="/x.zarr")).fingerprint() == fp
    assert spec.with_output(None) is spec
    assert spec.with_output("/o.zarr").output == "/o.zarr"
    assert parse_spec(spec_dict(grid__resolution=1.0)).fingerprint() != fp
    assert parse_spec(spec_dict(grid__bbox=[-10.0, 30.0, 10.0, 49.5])).fingerprint() != fp
    assert parse_spec(spec_dict(time__period="16D")).fingerprint() != fp
    assert parse_spec(spec_dict(variables__0__temporal_aggregation="max")).fingerprint() != fp
