"""Scale decisions as Prometheus text and as table rows (for a flow's log and artifact). No Prefect here."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping

from cubes.scaleout.backend import ScaleEvent
from cubes.scaleout.profiles import ClusterProfile


def render_metrics(
    profile: ClusterProfile, events: Iterable[ScaleEvent], sizes: Mapping[str, int], failed_tasks: int = 0
) -> str:
    """Prometheus text exposition of a cluster's scaling.

    ``esdl_scale_events_total{group,direction}`` (counter: decisions to grow or shrink a group),
    ``esdl_group_workers{group}`` (gauge: workers running or starting) and
    ``esdl_tasks_unavailable_total`` (counter: tasks failed for want of a resource), every series labelled with
    the profile too.
    """
    counts = Counter((e.group, e.direction) for e in events)
    p = profile.name
    lines = [
        "# HELP esdl_scale_events_total Scale decisions of the autoscaler per worker group and direction.",
        "# TYPE esdl_scale_events_total counter",
    ]
    for g in profile.groups:
        for direction in ("up", "down"):
            n = counts[(g.name, direction)]
            lines.append(f'esdl_scale_events_total{{profile="{p}",group="{g.name}",direction="{direction}"}} {n}')
    lines += [
        "# HELP esdl_group_workers Workers running or starting per worker group.",
        "# TYPE esdl_group_workers gauge",
    ]
    lines += [f'esdl_group_workers{{profile="{p}",group="{g.name}"}} {sizes.get(g.name, 0)}' for g in profile.groups]
    lines += [
        "# HELP esdl_tasks_unavailable_total Tasks failed because no worker offered the resource they need.",
        "# TYPE esdl_tasks_unavailable_total counter",
        f'esdl_tasks_unavailable_total{{profile="{p}"}} {failed_tasks}',
    ]
    return "\n".join(lines) + "\n"


def event_rows(events: Iterable[ScaleEvent]) -> list[dict[str, str | int]]:
    """One row per scale decision (time in UTC, group, from, to, reason): a Prefect table artifact's rows."""
    return [
        {
            "time": dt.datetime.fromtimestamp(e.time, dt.UTC).isoformat(timespec="seconds"),
            "group": e.group,
            "from": e.before,
            "to": e.after,
            "reason": e.reason,
        }
        for e in events
    ]
