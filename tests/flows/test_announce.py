"""``esdl.cube.published`` is emitted at least once for every published version of a cube, whatever fails after the
publication: a build whose artifacts fail still announces its cube; a build that dies between publishing and
announcing leaves the version unannounced, and the next build of the spec, finding it up to date, announces it;
a version already announced is not announced again. Events are read back from the real Prefect test server."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from cubes.store import Publication
from esdl_testing.samples import sample_path
from esdl_testing.stack import api


def small_spec(output: Path) -> dict[str, Any]:
    """OSTIA SST alone, yearly, on a coarse grid: a few regions."""
    return {
        "name": "announced",
        "grid": {"bbox": [-100, -5, -30, 70], "resolution": [5, 5]},
        "time": {"start": "2006-01-01", "end": "2009-12-31", "period": "1Y"},
        "sources": {"ostia": {"path": sample_path("ostia_monthly.nc")}},
        "variables": [{"name": "sst", "source": "ostia", "source_variable": "surface_temperature"}],
        "chunks": {"time": 2, "y": 8, "x": 8},
        "output": str(output),
    }


def announcements(prefect_api: str, output: Path, at_least: int, wait_s: float = 60) -> list[dict[str, Any]]:
    """The payloads of the ``esdl.cube.published`` events of ``output`` on the server, once there are ``at_least``
    (the server stores events a few seconds after they arrive), or what there is after ``wait_s``."""
    base = prefect_api.removesuffix("/api")
    deadline = time.monotonic() + wait_s
    while True:
        spec = {"event": {"name": ["esdl.cube.published"]}, "order": "ASC"}
        events = api(base, "/api/events/filter", {"filter": spec, "limit": 50})["events"]
        found = [e["payload"] for e in events if e["payload"].get("output") == str(output)]
        if len(found) >= at_least or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def test_failed_artifacts_after_publication_still_announce(
    prefect_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import flows.build_cube as build_module

    def broken_artifacts(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the artifact store is down")

    monkeypatch.setattr(build_module, "artifacts_task", broken_artifacts)
    out = tmp_path / "a.zarr"
    with pytest.raises(RuntimeError, match="artifact store is down"):
        build_module.build_cube(spec=small_spec(out))  # type: ignore[call-overload]  # a spec mapping
    publication = Publication(out)
    assert publication.current() is not None and publication.announced()
    (event,) = announcements(prefect_api, out, at_least=1)
    assert event["path"] == str(publication.current()) and event["written"] == event["regions"] > 0


def test_a_version_left_unannounced_is_announced_by_the_next_build_once(
    prefect_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import flows.build_cube as build_module

    def dies(*args: Any, **kwargs: Any) -> None:  # the run's process dies between publishing and announcing
        raise RuntimeError("killed")

    out = tmp_path / "b.zarr"
    with monkeypatch.context() as patched:
        patched.setattr(build_module, "_announce", dies)
        with pytest.raises(RuntimeError, match="killed"):
            build_module.build_cube(spec=small_spec(out))  # type: ignore[call-overload]  # a spec mapping
    publication = Publication(out)
    assert publication.current() is not None and not publication.announced()
    assert announcements(prefect_api, out, at_least=1, wait_s=10) == []  # (stored within a few seconds if sent)

    again = build_module.build_cube(spec=small_spec(out), resume=True)  # type: ignore[call-overload]
    assert again.written == 0 and publication.announced()
    (event,) = announcements(prefect_api, out, at_least=1)
    assert event["path"] == str(publication.current()) and event["written"] == 0

    build_module.build_cube(spec=small_spec(out), resume=True)  # type: ignore[call-overload]  # up to date again
    assert len(announcements(prefect_api, out, at_least=2, wait_s=10)) == 1
