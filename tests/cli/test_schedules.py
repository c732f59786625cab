"""The schedules of deployments/prefect.yaml make runs: a real Prefect server (its scheduler service every 2 s)
with the deployments registered as ``esdl up`` registers them; every cron schedule gets Scheduled runs at its
times in its time zone.

SQLAlchemy 2.1 broke Prefect 3.8.8's scheduler (``Can't evaluate bulk DML statement`` every loop): the deployments
had their schedules and no run was ever made. This fails then.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.request
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from esdl.stack import Stack
from esdl_testing.paths import REPO_ROOT
from esdl_testing.servers import free_port


def post(url: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as r:
        return json.loads(r.read())


def matches(cron: str, at: dt.datetime) -> bool:
    """Whether ``at`` is a time of ``cron`` (minute, hour and day of week fields; day and month ``*``)."""
    minute, hour, day, month, weekday = cron.split()
    assert (day, month) == ("*", "*"), f"this test reads no day or month field: {cron}"
    return (
        at.minute == int(minute)
        and at.hour == int(hour)
        and at.second == 0
        and (weekday == "*" or at.isoweekday() % 7 == int(weekday))
    )


def test_every_cron_schedule_makes_runs_at_its_times(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS", "2")
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    declared = yaml.safe_load((REPO_ROOT / "deployments" / "prefect.yaml").read_text())["deployments"]
    crons = {d["name"]: s for d in declared for s in d.get("schedules", []) if "cron" in s}
    assert {"demo-cube", "cube-report", "nightly"} <= set(crons)
    stack = Stack(root=REPO_ROOT, home=tmp_path / "state", prefect_port=free_port(), say=lambda _: None)
    try:
        stack.server()
        stack.deployments()
        ids = {d["name"]: d["id"] for d in post(stack.api_url + "/deployments/filter", {}) if d["name"] in crons}
        assert set(ids) == set(crons)
        runs: dict[str, list[dict[str, Any]]] = {}
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            runs = {
                name: post(
                    stack.api_url + "/flow_runs/filter",
                    {"deployments": {"id": {"any_": [i]}}, "flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}}},
                )
                for name, i in ids.items()
            }
            if all(runs.values()):
                break
            time.sleep(1)
        assert all(runs.values()), f"no scheduled runs for {[n for n, r in runs.items() if not r]}"
        now = dt.datetime.now(dt.UTC)
        for name, schedule in crons.items():
            zone = ZoneInfo(schedule["timezone"])
            for run in runs[name]:
                at = dt.datetime.fromisoformat(run["expected_start_time"].replace("Z", "+00:00"))
                assert at > now
                assert matches(schedule["cron"], at.astimezone(zone)), (name, schedule, at.astimezone(zone))
    finally:
        stack.stop(["prefect-server"])
