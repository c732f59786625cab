"""The autoscaling policy: a pure function from one look at the scheduler to each group's desired size.

Demand is counted in *workers*: a task processing on a worker with ``t`` threads occupies ``1/t`` of it, unless
its resource restrictions allow fewer at once (a ``GPU=1`` task on a worker with ``GPU=1`` occupies all of it,
whatever its threads). A group's demand is the load of its connected workers plus the tasks waiting for it:
tasks no connected worker can run (the scheduler's *unrunnable* tasks), routed to the first group whose workers
would offer what they need, and the scheduler's queue of tasks waiting for a free thread (the default group).

- **Up**: a group whose demand needs more workers than it has grows to ``ceil(demand)`` (within its bounds) once
  the pressure has lasted ``scale_up_after_s``.
- **Down**: workers of a group idle for its ``idle_timeout_s`` are retired, down to what its demand needs and
  never below ``min_workers``, and not within ``scale_down_cooldown_s`` of its last growth. Only idle workers are
  ever chosen (those holding the fewest bytes first); the scheduler's retirement moves their unique results.
- **Hysteresis**: the idle timeout keeps workers through the pauses of bursty load shorter than it, the cooldown
  keeps a group that just grew, the scale-up delay ignores blips shorter than it.
- **Unavailable**: tasks waiting longer than ``resource_wait_timeout_s`` are reported to be failed with the
  resource they need named, whether no group offers it or the group that does never got a worker up.

Nothing here touches a scheduler or a clock: :func:`decide` is tested on synthetic snapshots.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field, replace

from cubes.scaleout.profiles import AutoscalerConfig, WorkerGroup

DEFAULT_GROUP = "default"
"""The group that runs tasks without resource restrictions when none is connected."""

Requirement = tuple[tuple[str, float], ...]
"""A task's resource restrictions, sorted by name (empty: none)."""


@dataclass(frozen=True)
class WorkerView:
    """One connected worker as the scheduler sees it."""

    name: str
    address: str
    group: str | None
    load: float = 0.0
    """Its processing tasks, in workers (see the module's doc)."""
    nbytes: int = 0
    """Bytes of results it holds."""


@dataclass(frozen=True)
class Waiting:
    """Tasks with the same requirement that no connected worker can run."""

    requirement: Requirement
    count: int
    oldest_s: float
    """How long the oldest of them has waited."""
    keys: tuple[Hashable, ...] = ()
    """Their Dask keys (some of them when very many), to fail them."""


@dataclass(frozen=True)
class Snapshot:
    """One look at the cluster: the backend's group sizes and the scheduler's workers and waiting tasks."""

    time: float
    """A monotonic time (seconds) of the look."""
    sizes: Mapping[str, int]
    """Workers per group running or starting (the backend's count)."""
    workers: tuple[WorkerView, ...] = ()
    waiting: tuple[Waiting, ...] = ()
    queued: int = 0
    """Tasks queued in the scheduler for a free thread (they have no restrictions)."""


@dataclass(frozen=True)
class PolicyState:
    """What the policy remembers between looks."""

    idle_since: Mapping[str, float] = field(default_factory=dict)
    """Worker name → when it was first seen idle."""
    pressure_since: Mapping[str, float] = field(default_factory=dict)
    """Group → since when its demand has exceeded its size."""
    last_up: Mapping[str, float] = field(default_factory=dict)
    """Group → when it last grew."""


@dataclass(frozen=True)
class Decision:
    """Change ``group`` to ``size`` workers; when shrinking, retire ``retire`` (worker names)."""

    group: str
    before: int
    size: int
    reason: str
    retire: tuple[str, ...] = ()


@dataclass(frozen=True)
class Unavailable:
    """Tasks to fail: they waited too long for ``requirement``."""

    requirement: Requirement
    keys: tuple[Hashable, ...]
    message: str


@dataclass(frozen=True)
class Plan:
    """What :func:`decide` concluded: scale decisions, tasks to fail and the state for the next look."""

    decisions: tuple[Decision, ...]
    unavailable: tuple[Unavailable, ...]
    state: PolicyState


def describe(requirement: Requirement) -> str:
    """``GPU=1,MEM=2`` (or ``no resources``)."""
    return ",".join(f"{k}={v:g}" for k, v in requirement) or "no resources"


def capacity(group: WorkerGroup, requirement: Requirement) -> int:
    """How many tasks of ``requirement`` one worker of ``group`` runs at once (0: it cannot run them)."""
    have = group.worker_resources()
    slots = group.threads
    for name, need in requirement:
        if need > 0:
            slots = min(slots, math.floor(have.get(name, 0.0) / need + 1e-9))
    return slots


def route(groups: list[WorkerGroup], requirement: Requirement) -> WorkerGroup | None:
    """The group whose workers would run tasks of ``requirement``: ``default`` for none, else the first able to."""
    able = [g for g in groups if g.max_workers > 0 and capacity(g, requirement) > 0]
    if not requirement:
        return next((g for g in able if g.name == DEFAULT_GROUP), able[0] if able else None)
    return able[0] if able else None


def _demand(groups: list[WorkerGroup], snap: Snapshot) -> tuple[dict[str, float], dict[str, int]]:
    """Demand in workers per group, and the waiting tasks routed to each."""
    load = {g.name: 0.0 for g in groups}
    waiting = {g.name: 0 for g in groups}
    for w in snap.workers:
        if w.group in load:
            load[w.group] += w.load
    for wt in snap.waiting:
        g = route(groups, wt.requirement)
        if g is not None:
            load[g.name] += wt.count / capacity(g, wt.requirement)
            waiting[g.name] += wt.count
    default = route(groups, ())
    if snap.queued and default is not None:
        load[default.name] += snap.queued / default.threads
        waiting[default.name] += snap.queued
    return load, waiting


def _unavailable(groups: list[WorkerGroup], snap: Snapshot, config: AutoscalerConfig) -> list[Unavailable]:
    out = []
    for wt in snap.waiting:
        if wt.oldest_s < config.resource_wait_timeout_s or not wt.keys:
            continue
        g = route(groups, wt.requirement)
        need = describe(wt.requirement)
        if g is None:
            offered = {k for grp in groups if grp.max_workers > 0 for k in grp.worker_resources()}
            why = f"no worker group offers it (groups offer: {', '.join(sorted(offered)) or 'no resources'})"
        else:
            why = f"group {g.name!r} offers it but none of its workers connected"
        out.append(
            Unavailable(
                wt.requirement,
                wt.keys,
                f"{wt.count} task(s) waited {wt.oldest_s:.0f} s (resource_wait_timeout_s "
                f"{config.resource_wait_timeout_s:g}) for a worker with {need}: {why}",
            )
        )
    return out


def decide(groups: list[WorkerGroup], config: AutoscalerConfig, snap: Snapshot, state: PolicyState) -> Plan:
    """Each group's desired size after looking at ``snap`` (see the module's doc for the rules)."""
    now = snap.time
    load, waiting = _demand(groups, snap)
    connected = {w.name for w in snap.workers}
    idle_since = {n: t for n, t in state.idle_since.items() if n in connected}
    for w in snap.workers:
        if w.load > 0:
            idle_since.pop(w.name, None)
        else:
            idle_since.setdefault(w.name, now)
    pressure = dict(state.pressure_since)
    last_up = dict(state.last_up)
    decisions = []
    for g in groups:
        size = snap.sizes.get(g.name, 0)
        need = load[g.name]
        target = min(g.max_workers, max(g.min_workers, math.ceil(need - 1e-9)))
        if target > size:
            since = pressure.setdefault(g.name, now)
            if now - since >= config.scale_up_after_s:
                why = f"load {need:.1f} workers" + (f", {waiting[g.name]} task(s) waiting" if waiting[g.name] else "")
                decisions.append(Decision(g.name, size, target, why))
                last_up[g.name] = now
                pressure.pop(g.name)
            continue
        pressure.pop(g.name, None)
        if size <= target or now - last_up.get(g.name, -math.inf) < config.scale_down_cooldown_s:
            continue
        idle = sorted(
            (w for w in snap.workers if w.group == g.name and now - idle_since.get(w.name, now) >= g.idle_timeout_s),
            key=lambda w: (w.nbytes, w.name),
        )
        retire = tuple(w.name for w in idle[: size - target])
        if retire:
            why = f"{len(retire)} worker(s) idle for {g.idle_timeout_s:g} s, load {need:.1f} workers"
            decisions.append(Decision(g.name, size, size - len(retire), why, retire))
    new_state = replace(state, idle_since=idle_since, pressure_since=pressure, last_up=last_up)
    return Plan(tuple(decisions), tuple(_unavailable(groups, snap, config)), new_state)
