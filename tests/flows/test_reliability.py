"""Reliability: a Dask worker killed mid-build, the build process killed and resumed, and atomic publication.

Every build here is a real Prefect flow run (on the session's temporary server) on a real Dask cluster.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import psutil
import pytest
import xarray as xr
import yaml

from cubes.spec import parse_spec
from cubes.store import Publication
from esdl_testing.builds import data_of, synthetic_spec, wait_for
from esdl_testing.paths import REPO_ROOT

pytestmark = pytest.mark.slow  # killed workers and builds, each on its own Dask cluster: half a minute apiece


@pytest.fixture(scope="module")
def clean_build(prefect_api: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A reference build, undisturbed."""
    from flows.build_cube import build_cube

    out = tmp_path_factory.mktemp("clean") / "cube.zarr"
    result = build_cube(spec=synthetic_spec(out), cluster={"min_workers": 2, "max_workers": 2})  # type: ignore[call-overload]  # a spec mapping
    assert result.written == result.regions == 23
    return out


def test_killed_worker_does_not_break_the_build(clean_build: Path, tmp_path: Path) -> None:
    from distributed import Client, LocalCluster

    from flows.build_cube import build_cube

    out = tmp_path / "cube.zarr"
    spec = synthetic_spec(out)
    build = Publication(out).build(parse_spec(spec).fingerprint())
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        pids = set(client.run(os.getpid).values())
        outcome: dict[str, Any] = {}
        thread = threading.Thread(
            target=lambda: outcome.update(result=build_cube(spec=spec, cluster={"address": cluster.scheduler_address}))  # type: ignore[call-overload]  # a spec mapping
        )
        thread.start()
        wait_for(lambda: len(build.done_regions()) >= 2)
        done_at_kill = len(build.done_regions())
        victim = max(pids)
        os.kill(victim, signal.SIGKILL)
        thread.join(timeout=300)
        assert not thread.is_alive()
        new_pids = set(client.run(os.getpid).values())
    assert done_at_kill < 23, "the build finished before the worker was killed"
    assert victim not in new_pids  # the nanny replaced the killed worker
    assert outcome["result"].regions == 23
    xr.testing.assert_identical(data_of(out), data_of(clean_build))


def _cli(spec_path: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "ESDL_DASK_MIN_WORKERS": "2", "ESDL_DASK_MAX_WORKERS": "2"}
    return subprocess.Popen(
        [sys.executable, "-m", "esdl", "cube", "build", str(spec_path), "--no-progress", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        cwd=REPO_ROOT,
    )


def _last_json(stdout: str) -> dict[str, Any]:
    return json.loads(stdout.strip().splitlines()[-1])


def test_killed_build_resumes_with_fewer_regions(clean_build: Path, tmp_path: Path) -> None:
    out = tmp_path / "cube.zarr"
    spec = synthetic_spec(out)
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(spec))
    build = Publication(out).build(parse_spec(spec).fingerprint())

    proc = _cli(spec_path)
    try:
        wait_for(lambda: len(build.done_regions()) >= 3 or proc.poll() is not None, timeout=300)
    finally:
        tree = [proc.pid] + [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        wait_for(
            lambda: not any(psutil.pid_exists(p) and psutil.Process(p).status() != "zombie" for p in tree), timeout=30
        )
    done_at_kill = len(build.done_regions())
    assert 3 <= done_at_kill < 23, "the build finished before it was killed"
    assert not out.exists() and not out.is_symlink()  # nothing published from a killed build

    resumed = _cli(spec_path, "--resume")
    stdout, stderr = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, stderr[-3000:]
    result = _last_json(stdout)
    assert result["regions"] == 23
    assert result["written"] == 23 - done_at_kill < 23
    xr.testing.assert_identical(data_of(out), data_of(clean_build))


def test_published_location_is_never_partial(clean_build: Path, tmp_path: Path, prefect_api: str) -> None:
    from flows.build_cube import build_cube

    out = tmp_path / "cube.zarr"
    build_cube(spec=synthetic_spec(out, title="first"), cluster={"min_workers": 2, "max_workers": 2})  # type: ignore[call-overload]  # a spec mapping
    expected = data_of(clean_build)
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(synthetic_spec(out, title="second")))

    seen: list[str] = []
    proc = _cli(spec_path)
    while proc.poll() is None:
        title = xr.open_zarr(out, consolidated=False).attrs["title"]
        # whatever is published is complete: every region holds the same data as the clean build
        xr.testing.assert_identical(data_of(out), expected)
        seen.append(title)
    _, stderr = proc.communicate()
    assert proc.returncode == 0, stderr[-3000:]
    assert seen and seen[0] == "first"
    assert xr.open_zarr(out, consolidated=False).attrs["title"] == "second"
    assert len(list((Publication(out).private / "versions").iterdir())) == 2  # the previous one is kept
