"""Tests of the cube specification (validation, error paths, path resolution, fingerprint), the time axis and
the target grid. Expected values are computed independently with python datetime arithmetic and numpy."""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import pytest
import yaml

import cubes
from cubes.errors import CubeError, SpecError
from cubes.grid import TargetGrid
from cubes.spec import CubeSpec, GridSpec, TimeSpec, load_spec, parse_spec
from cubes.timeaxis import build_time_axis
from tests.helpers import to_datetime

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


def dt64(text: str) -> np.datetime64:
    return np.datetime64(text, "ns")


# --------------------------------------------------------------------------------------------------- spec


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


# ---------------------------------------------------------------------------------------------- time axis


def esdc_bins(first_year: int, last_year: int, n: int = 8) -> list[tuple[dt.datetime, dt.datetime]]:
    """Independent ESDC bins: every ``n`` days from 1 January, the last bin of a year cut at 1 January."""
    bins = []
    for year in range(first_year, last_year + 1):
        start, stop = dt.datetime(year, 1, 1), dt.datetime(year + 1, 1, 1)
        s = start
        while s < stop:
            e = min(s + dt.timedelta(days=n), stop)
            bins.append((s, e))
            s = e
    return bins


def as_pairs(axis) -> list[tuple[dt.datetime, dt.datetime]]:
    return [(to_datetime(s), to_datetime(e)) for s, e in zip(axis.starts, axis.ends, strict=True)]


def test_8d_restart_yearly_bins() -> None:
    axis = build_time_axis(TimeSpec(start="2019-01-01", end="2021-12-31", period="8D", restart_yearly=True))
    assert axis.starts.dtype == np.dtype("datetime64[ns]")
    assert axis.ends.dtype == np.dtype("datetime64[ns]")
    assert as_pairs(axis) == esdc_bins(2019, 2021)
    assert axis.size == 3 * 46
    years = axis.starts.astype("datetime64[Y]").astype(int) + 1970
    assert [int((years == y).sum()) for y in (2019, 2020, 2021)] == [46, 46, 46]
    lengths = (axis.ends - axis.starts) / np.timedelta64(1, "D")
    # every bin but the last of each year is 8 days long
    np.testing.assert_array_equal(np.delete(lengths, [45, 91, 137]), 8.0)
    assert as_pairs(axis)[45] == (dt.datetime(2019, 12, 27), dt.datetime(2020, 1, 1))
    assert lengths[45] == 5
    assert as_pairs(axis)[91] == (dt.datetime(2020, 12, 26), dt.datetime(2021, 1, 1))  # leap year: 6 days
    assert lengths[91] == 6
    assert lengths[137] == 5
    # contiguous, starting every 1 January, covering the three years exactly
    np.testing.assert_array_equal(axis.ends[:-1], axis.starts[1:])
    for i, year in ((0, 2019), (46, 2020), (92, 2021)):
        assert axis.starts[i] == np.datetime64(f"{year}-01-01", "ns")
    assert lengths.sum() == 365 + 366 + 365
    assert axis.bounds.shape == (axis.size, 2)
    np.testing.assert_array_equal(axis.bounds[:, 0], axis.starts)
    np.testing.assert_array_equal(axis.bounds[:, 1], axis.ends)


def test_8d_restart_yearly_partial_range_keeps_esdc_alignment() -> None:
    axis = build_time_axis(TimeSpec(start="2020-02-15", end="2020-03-10", period="8D", restart_yearly=True))
    expected = [
        (s, e) for s, e in esdc_bins(2020, 2020) if e > dt.datetime(2020, 2, 15) and s <= dt.datetime(2020, 3, 10)
    ]
    assert as_pairs(axis) == expected
    assert as_pairs(axis) == [
        (dt.datetime(2020, 2, 10), dt.datetime(2020, 2, 18)),
        (dt.datetime(2020, 2, 18), dt.datetime(2020, 2, 26)),
        (dt.datetime(2020, 2, 26), dt.datetime(2020, 3, 5)),
        (dt.datetime(2020, 3, 5), dt.datetime(2020, 3, 13)),
    ]


def test_8d_restart_yearly_across_new_year() -> None:
    axis = build_time_axis(TimeSpec(start="2019-12-20", end="2020-01-05", period="8D", restart_yearly=True))
    assert as_pairs(axis) == [
        (dt.datetime(2019, 12, 19), dt.datetime(2019, 12, 27)),
        (dt.datetime(2019, 12, 27), dt.datetime(2020, 1, 1)),
        (dt.datetime(2020, 1, 1), dt.datetime(2020, 1, 9)),
    ]


def test_8d_without_restart_runs_across_years() -> None:
    axis = build_time_axis(TimeSpec(start="2020-12-20", end="2021-01-10", period="8D"))
    start = dt.datetime(2020, 12, 20)
    assert as_pairs(axis) == [
        (start + dt.timedelta(days=8 * k), start + dt.timedelta(days=8 * (k + 1))) for k in range(3)
    ]


def test_monthly_bins() -> None:
    axis = build_time_axis(TimeSpec(start="2019-11-01", end="2020-12-31", period="1M"))
    firsts = [dt.datetime(2019, 11, 1), dt.datetime(2019, 12, 1)] + [dt.datetime(2020, m, 1) for m in range(1, 13)]
    firsts.append(dt.datetime(2021, 1, 1))
    assert as_pairs(axis) == list(itertools.pairwise(firsts))
    lengths = ((axis.ends - axis.starts) / np.timedelta64(1, "D")).astype(int)
    assert list(lengths[2:]) == [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]


def test_quarterly_bins_and_end_inside_last_bin() -> None:
    axis = build_time_axis(TimeSpec(start="2020-01-01", end="2020-08-15", period="3M"))
    assert as_pairs(axis) == [
        (dt.datetime(2020, 1, 1), dt.datetime(2020, 4, 1)),
        (dt.datetime(2020, 4, 1), dt.datetime(2020, 7, 1)),
        (dt.datetime(2020, 7, 1), dt.datetime(2020, 10, 1)),
    ]


def test_daily_bins_with_leap_day() -> None:
    axis = build_time_axis(TimeSpec(start="2020-02-27", end="2020-03-02", period="1D"))
    expected = [dt.datetime(2020, 2, 27) + dt.timedelta(days=k) for k in range(6)]
    assert as_pairs(axis) == list(itertools.pairwise(expected))
    assert axis.size == 5


def test_single_day_axis() -> None:
    axis = build_time_axis(TimeSpec(start="2020-05-05", end="2020-05-05", period="1D"))
    assert as_pairs(axis) == [(dt.datetime(2020, 5, 5), dt.datetime(2020, 5, 6))]


def test_yearly_bins() -> None:
    axis = build_time_axis(TimeSpec(start="2000-01-01", end="2003-06-30", period="1Y"))
    years = [dt.datetime(y, 1, 1) for y in range(2000, 2005)]
    assert as_pairs(axis) == list(itertools.pairwise(years))
    lengths = (axis.ends - axis.starts) / np.timedelta64(1, "D")
    np.testing.assert_array_equal(lengths, [366, 365, 365, 365])


def brute_force_assign(axis, times: list[dt.datetime]) -> list[int]:
    pairs = as_pairs(axis)
    out = []
    for t in times:
        hits = [i for i, (s, e) in enumerate(pairs) if s <= t < e]
        assert len(hits) <= 1
        out.append(hits[0] if hits else -1)
    return out


def test_assign_edges_go_to_the_later_bin() -> None:
    axis = build_time_axis(TimeSpec(start="2020-01-01", end="2021-12-31", period="8D", restart_yearly=True))
    times = [
        dt.datetime(2019, 12, 31, 23, 59),  # before the axis
        dt.datetime(2020, 1, 1),  # first edge
        dt.datetime(2020, 1, 8, 23, 59, 59),  # last second of bin 0
        dt.datetime(2020, 1, 9),  # edge between bins 0 and 1
        dt.datetime(2020, 12, 25, 23),  # bin 44
        dt.datetime(2020, 12, 26),  # start of the short bin 45
        dt.datetime(2020, 12, 31, 23, 59),  # still bin 45
        dt.datetime(2021, 1, 1),  # next year's first bin
        dt.datetime(2021, 12, 31, 12),  # last bin
        dt.datetime(2022, 1, 1),  # the axis' end is excluded
        dt.datetime(2030, 1, 1),
    ]
    expected = [-1, 0, 0, 1, 44, 45, 45, 46, 91, -1, -1]
    idx = axis.assign(np.array(times, dtype="datetime64[ns]"))
    np.testing.assert_array_equal(idx, expected)
    assert brute_force_assign(axis, times) == expected


def test_assign_random_times_matches_brute_force() -> None:
    axis = build_time_axis(TimeSpec(start="2019-06-01", end="2020-03-31", period="1M"))
    rng = np.random.default_rng(42)
    base = dt.datetime(2019, 5, 1)
    times = [base + dt.timedelta(hours=int(h)) for h in rng.integers(0, 24 * 400, size=300)]
    times += [to_datetime(s) for s in axis.starts] + [to_datetime(e) for e in axis.ends]
    idx = axis.assign(np.array(times, dtype="datetime64[ns]"))
    np.testing.assert_array_equal(idx, brute_force_assign(axis, times))


def test_labels_are_bin_midpoints() -> None:
    axis = build_time_axis(TimeSpec(start="2020-01-01", end="2020-12-31", period="8D", restart_yearly=True))
    assert np.all(axis.labels >= axis.starts) and np.all(axis.labels < axis.ends)
    assert axis.labels[0] == dt64("2020-01-05")
    assert axis.labels[-1] == dt64("2020-12-29")  # 6-day bin from 26 December
    monthly = build_time_axis(TimeSpec(start="2021-01-01", end="2021-03-31", period="1M"))
    np.testing.assert_array_equal(
        monthly.labels, [dt64("2021-01-16T12:00"), dt64("2021-02-15T00:00"), dt64("2021-03-16T12:00")]
    )
    short = build_time_axis(TimeSpec(start="2019-12-27", end="2019-12-31", period="8D", restart_yearly=True))
    np.testing.assert_array_equal(short.labels, [dt64("2019-12-29T12:00")])
    # each label is exactly half-way between its edges
    np.testing.assert_array_equal((axis.labels - axis.starts) * 2, axis.ends - axis.starts)


# ------------------------------------------------------------------------------------------------- grid


def test_geographic_grid_cell_centres_and_bounds() -> None:
    grid = TargetGrid(GridSpec(bbox=(-10.0, 30.0, 10.0, 40.0), resolution=0.5))
    assert grid.shape == (20, 40)
    assert grid.dims == ("lat", "lon")
    np.testing.assert_allclose(grid.x, np.linspace(-9.75, 9.75, 40))
    np.testing.assert_allclose(grid.y, np.linspace(30.25, 39.75, 20))
    assert np.all(np.diff(grid.y) > 0)
    xb, yb = grid.bounds("x"), grid.bounds("y")
    assert xb.shape == (40, 2) and yb.shape == (20, 2)
    np.testing.assert_allclose(xb[:, 0], np.arange(40) * 0.5 - 10.0)
    np.testing.assert_allclose(xb[:, 1], np.arange(1, 41) * 0.5 - 10.0)
    np.testing.assert_allclose(yb[:, 0], np.arange(20) * 0.5 + 30.0)
    np.testing.assert_allclose(xb[1:, 0], xb[:-1, 1])  # contiguous cells
    assert grid.geographic_bounds() == (-10.0, 30.0, 10.0, 40.0)
    yattrs, xattrs = grid.coord_attrs()
    assert (yattrs["units"], xattrs["units"]) == ("degrees_north", "degrees_east")
    assert (yattrs["bounds"], xattrs["bounds"]) == ("lat_bnds", "lon_bnds")
    gm = grid.grid_mapping_attrs()
    assert gm["grid_mapping_name"] == "latitude_longitude"
    assert pyproj.CRS.from_wkt(gm["crs_wkt"]).equals(pyproj.CRS.from_epsg(4326))


def test_anisotropic_grid() -> None:
    grid = TargetGrid(GridSpec(bbox=(0.0, 0.0, 3.0, 1.0), resolution=(1.0, 0.25)))
    assert grid.shape == (4, 3)
    np.testing.assert_allclose(grid.x, [0.5, 1.5, 2.5])
    np.testing.assert_allclose(grid.y, [0.125, 0.375, 0.625, 0.875])


def test_projected_grid() -> None:
    bbox = (4_000_000.0, 3_000_000.0, 4_100_000.0, 3_050_000.0)
    grid = TargetGrid(GridSpec(crs="EPSG:3035", bbox=bbox, resolution=10_000))
    assert grid.dims == ("y", "x")
    assert grid.shape == (5, 10)
    np.testing.assert_allclose(grid.x, 4_005_000.0 + 10_000.0 * np.arange(10))
    np.testing.assert_allclose(grid.y, 3_005_000.0 + 10_000.0 * np.arange(5))
    yattrs, xattrs = grid.coord_attrs()
    assert yattrs["standard_name"] == "projection_y_coordinate"
    assert xattrs["units"] == "m"
    lon0, lat0, lon1, lat1 = grid.geographic_bounds()
    to_lonlat = pyproj.Transformer.from_crs("EPSG:3035", "EPSG:4326", always_xy=True)
    for x in (bbox[0], bbox[2]):
        for y in (bbox[1], bbox[3]):
            lon, lat = to_lonlat.transform(x, y)
            assert lon0 - 1e-9 <= lon <= lon1 + 1e-9 and lat0 - 1e-9 <= lat <= lat1 + 1e-9
