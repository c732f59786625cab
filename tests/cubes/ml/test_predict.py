"""A saved model applied to cubes: the forecast written as a valid esdl cube whose values are the model's, and
cubes that do not fit the model refused with the reason named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from cubes.errors import ModelMismatchError
from cubes.ml.config import ModelConfig
from cubes.ml.predict import forecast, forecast_spec, predict_cube
from cubes.ml.saved import load_model
from cubes.ml.train import TrainResult, train
from cubes.plan import plan_cube
from cubes.store import Publication, build_location
from cubes.verify import find_issues
from cubes.writer import start_build, write_regions, write_template
from esdl_testing.mlcubes import build_demo


@pytest.fixture(scope="module")
def trained(demo_cube: Path, tmp_path_factory: pytest.TempPathFactory) -> TrainResult:
    return train(demo_cube, ModelConfig(epochs=1, hidden=16), tmp_path_factory.mktemp("models"), "run-p")


def test_the_forecast_is_a_valid_cube_holding_the_models_predictions(
    trained: TrainResult, demo_cube: Path, tmp_path: Path
) -> None:
    output = tmp_path / "forecast.zarr"
    result = predict_cube(trained.model, demo_cube, str(output))
    assert output.is_symlink() and result.path == output.resolve()
    assert find_issues(output) == []  # what esdl cube verify checks
    ds = xr.open_zarr(output, consolidated=False)
    assert list(ds.data_vars) == ["sst_forecast"] and ds["sst_forecast"].attrs["units"] == "K"
    assert ds.attrs["esdl_model_run"] == "run-p"
    assert (
        ds.attrs["esdl_input_fingerprint"] == xr.open_zarr(demo_cube, consolidated=False).attrs["esdl_spec_fingerprint"]
    )
    source = xr.open_zarr(demo_cube, consolidated=False)
    xr.testing.assert_equal(ds["time_bnds"], source["time_bnds"])
    xr.testing.assert_equal(ds["lat"], source["lat"])
    values, _ = forecast(load_model(trained.model, device="cpu"), demo_cube)
    np.testing.assert_array_equal(ds["sst_forecast"].values, values)
    # one forecast per sea cell and month with three months of sea-surface temperature before it
    assert result.forecast_steps == 54 - 3 + 1  # ... and one after the last month with data
    # on the held-out period the cube scores what the model scored at training time
    first = int(np.searchsorted(ds["time"].values, np.datetime64(trained.info.holdout_start)))
    held = ds["sst_forecast"].values[first:]
    obs = source["sst"].values[first:]
    both = np.isfinite(held) & np.isfinite(obs)
    assert both.sum() == trained.info.metrics.samples
    rmse = np.sqrt(np.mean((held[both].astype(np.float64) - obs[both]) ** 2))
    assert rmse == pytest.approx(trained.info.metrics.model.rmse, abs=1e-5)


def test_an_interrupted_forecast_resumes_with_the_regions_it_lacks(
    trained: TrainResult, demo_cube: Path, tmp_path: Path
) -> None:
    """A forecast whose build stopped after three regions: the rerun writes only the others, and the cube is the
    same as an uninterrupted forecast's."""
    import dask.array as dsa

    output = str(tmp_path / "resumed.zarr")
    model = load_model(trained.model, device="cpu")
    values, ds = forecast(model, demo_cube)
    spec = forecast_spec(model, demo_cube, ds, output)
    plan = plan_cube(spec)
    build = build_location(spec)[1]
    start_build(plan, build, resume=False)
    partial = ds.drop_vars(list(ds.data_vars)).compute()
    partial["sst_forecast"] = (("time", "lat", "lon"), dsa.from_array(values, chunks=(12, 70, 70)), {"units": "K"})
    write_template(partial, plan, build)
    write_regions(partial, plan, build, plan.regions[:3])
    result = predict_cube(trained.model, demo_cube, output, resume=True)
    assert result.written_regions == len(plan.regions) - 3
    assert find_issues(output) == []
    np.testing.assert_array_equal(xr.open_zarr(output, consolidated=False)["sst_forecast"].values, values)


def test_a_second_forecast_publishes_a_new_version(trained: TrainResult, demo_cube: Path, tmp_path: Path) -> None:
    output = tmp_path / "forecast.zarr"
    first = predict_cube(trained.model, demo_cube, str(output))
    second = predict_cube(trained.model, demo_cube, str(output), resume=True)
    assert first.path != second.path and output.resolve() == second.path
    assert len(list((Publication(output).private / "versions").iterdir())) == 2


def test_a_cube_without_an_input_variable_is_refused(trained: TrainResult, tmp_path: Path) -> None:
    sst_only = build_demo(tmp_path / "sst-only.zarr", keep_variables=["sst"])
    with pytest.raises(ModelMismatchError, match=r"needs variable\(s\) \['air_temperature'\] that the cube lacks"):
        predict_cube(trained.model, sst_only, str(tmp_path / "out.zarr"))
    assert not (tmp_path / "out.zarr").exists()


def test_a_cube_on_another_grid_is_refused(trained: TrainResult, tmp_path: Path) -> None:
    other = build_demo(
        tmp_path / "other-grid.zarr", grid={"crs": "EPSG:4326", "bbox": [-105.0, -5.0, -35.0, 60.0], "resolution": 0.5}
    )
    with pytest.raises(ModelMismatchError, match=r"grid 130x140 \(lat x lon\) differs from the model's 140x140"):
        predict_cube(trained.model, other, str(tmp_path / "out.zarr"))
