"""The autoscaling policy on synthetic snapshots: growth, shrinking, retirement choice, hysteresis, timeouts."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from cubes.scaleout.policy import (
    Plan,
    PolicyState,
    Snapshot,
    Waiting,
    WorkerView,
    capacity,
    decide,
    route,
)
from cubes.scaleout.profiles import AutoscalerConfig, WorkerGroup

GPU = (("GPU", 1.0),)
DEFAULT = WorkerGroup(name="default", min_workers=1, max_workers=4, threads=2, idle_timeout_s=10)
GPU_GROUP = WorkerGroup(name="gpu", min_workers=0, max_workers=2, threads=4, gpus=1, idle_timeout_s=30)
GROUPS = [DEFAULT, GPU_GROUP]
CONFIG = AutoscalerConfig(interval_s=1, scale_up_after_s=0, scale_down_cooldown_s=5, resource_wait_timeout_s=60)


def snap(
    t: float,
    sizes: dict[str, int],
    workers: Iterable[WorkerView] = (),
    waiting: Iterable[Waiting] = (),
    queued: int = 0,
) -> Snapshot:
    return Snapshot(time=t, sizes=sizes, workers=tuple(workers), waiting=tuple(waiting), queued=queued)


def w(name: str, load: float = 0.0, nbytes: int = 0) -> WorkerView:
    return WorkerView(name, f"tcp://{name}", name.rsplit("-", 1)[0], load, nbytes)


def sizes_after(plan: Plan, sizes: dict[str, int]) -> dict[str, int]:
    out = dict(sizes)
    for d in plan.decisions:
        out[d.group] = d.size
    return out


def test_capacity_counts_the_scarcer_of_threads_and_resources() -> None:
    assert capacity(DEFAULT, ()) == 2
    assert capacity(DEFAULT, GPU) == 0
    assert capacity(GPU_GROUP, GPU) == 1  # four threads, one device
    assert capacity(GPU_GROUP, ()) == 4
    assert capacity(GPU_GROUP, (("GPU", 0.5),)) == 2


def test_route_sends_plain_work_to_default_and_gpu_work_to_gpu() -> None:
    assert route(GROUPS, ()) is DEFAULT
    assert route(GROUPS, GPU) is GPU_GROUP
    assert route(GROUPS, (("TPU", 1.0),)) is None
    assert route([DEFAULT, GPU_GROUP.model_copy(update={"max_workers": 0})], GPU) is None  # a group that cannot grow


def test_gpu_work_waiting_grows_the_gpu_group_from_zero_and_only_it() -> None:
    plan = decide(
        GROUPS, CONFIG, snap(0, {"default": 1, "gpu": 0}, [w("default-0")], [Waiting(GPU, 1, 0.1)]), PolicyState()
    )
    assert [(d.group, d.before, d.size) for d in plan.decisions] == [("gpu", 0, 1)]
    assert "1 task(s) waiting" in plan.decisions[0].reason


def test_growth_is_bounded_by_max_workers_and_counts_resource_slots() -> None:
    # 5 GPU tasks, one device per worker: 5 workers' worth, capped at 2
    plan = decide(
        GROUPS, CONFIG, snap(0, {"default": 1, "gpu": 0}, [w("default-0")], [Waiting(GPU, 5, 0)]), PolicyState()
    )
    assert sizes_after(plan, {"default": 1, "gpu": 0}) == {"default": 1, "gpu": 2}
    # 3 plain tasks queued with two threads per worker: 1 busy worker + 1.5 → 3 workers
    plan = decide(GROUPS, CONFIG, snap(0, {"default": 1, "gpu": 0}, [w("default-0", 1.0)], queued=3), PolicyState())
    assert sizes_after(plan, {"default": 1, "gpu": 0}) == {"default": 3, "gpu": 0}


def test_starting_workers_count_so_nothing_is_started_twice() -> None:
    # the gpu worker asked for a look ago has not connected yet; its task still waits
    plan = decide(
        GROUPS, CONFIG, snap(1, {"default": 1, "gpu": 1}, [w("default-0")], [Waiting(GPU, 1, 1)]), PolicyState()
    )
    assert plan.decisions == ()


def test_cpu_load_grows_the_default_group_and_leaves_gpu_alone() -> None:
    plan = decide(GROUPS, CONFIG, snap(0, {"default": 1, "gpu": 0}, [w("default-0", 1.0)], queued=20), PolicyState())
    assert sizes_after(plan, {"default": 1, "gpu": 0}) == {"default": 4, "gpu": 0}


def test_scale_up_waits_for_pressure_to_last() -> None:
    config = CONFIG.model_copy(update={"scale_up_after_s": 2})
    sizes = {"default": 1, "gpu": 0}
    state = PolicyState()
    for t in (0.0, 1.0):
        plan = decide(GROUPS, config, snap(t, sizes, [w("default-0")], [Waiting(GPU, 1, t)]), state)
        assert plan.decisions == ()
        state = plan.state
    plan = decide(GROUPS, config, snap(2.0, sizes, [w("default-0")], [Waiting(GPU, 1, 2)]), state)
    assert [(d.group, d.size) for d in plan.decisions] == [("gpu", 1)]
    # a blip that vanished resets the clock
    state = decide(GROUPS, config, snap(0, sizes, [w("default-0")], [Waiting(GPU, 1, 0)]), PolicyState()).state
    state = decide(GROUPS, config, snap(1, sizes, [w("default-0")]), state).state
    assert decide(GROUPS, config, snap(2.5, sizes, [w("default-0")], [Waiting(GPU, 1, 0)]), state).decisions == ()


def test_idle_gpu_group_shrinks_to_zero_after_its_idle_timeout_not_before() -> None:
    sizes = {"default": 1, "gpu": 1}
    workers = [w("default-0"), w("gpu-0")]
    state = PolicyState(last_up={"gpu": -100.0})
    plan = decide(GROUPS, CONFIG, snap(0, sizes, workers), state)
    assert plan.decisions == ()
    plan = decide(GROUPS, CONFIG, snap(29.9, sizes, workers), plan.state)
    assert plan.decisions == ()
    plan = decide(GROUPS, CONFIG, snap(30.0, sizes, workers), plan.state)
    assert [(d.group, d.before, d.size, d.retire) for d in plan.decisions] == [("gpu", 1, 0, ("gpu-0",))]
    assert "idle for 30 s" in plan.decisions[0].reason


def test_the_default_group_never_goes_below_its_minimum() -> None:
    sizes = {"default": 2, "gpu": 0}
    workers = [w("default-0"), w("default-1")]
    plan = decide(GROUPS, CONFIG, snap(0, sizes, workers), PolicyState())
    plan = decide(GROUPS, CONFIG, snap(100, sizes, workers), plan.state)
    assert [(d.group, d.size, len(d.retire)) for d in plan.decisions] == [("default", 1, 1)]


def test_work_resets_a_workers_idle_clock() -> None:
    sizes = {"default": 1, "gpu": 1}
    state = decide(GROUPS, CONFIG, snap(0, sizes, [w("gpu-0")]), PolicyState()).state
    state = decide(GROUPS, CONFIG, snap(20, sizes, [w("gpu-0", 1.0)]), state).state
    plan = decide(GROUPS, CONFIG, snap(45, sizes, [w("gpu-0")]), state)
    assert plan.decisions == ()  # idle since 45, not since 0
    assert decide(GROUPS, CONFIG, snap(74, sizes, [w("gpu-0")]), plan.state).decisions == ()
    assert decide(GROUPS, CONFIG, snap(75, sizes, [w("gpu-0")]), plan.state).decisions != ()


def test_cooldown_keeps_a_group_that_just_grew() -> None:
    group = GPU_GROUP.model_copy(update={"idle_timeout_s": 1})
    groups = [DEFAULT, group]
    state = PolicyState(last_up={"gpu": 10.0}, idle_since={"gpu-0": 0.0})
    assert decide(groups, CONFIG, snap(14.9, {"default": 1, "gpu": 1}, [w("gpu-0")]), state).decisions == ()
    assert decide(groups, CONFIG, snap(15.0, {"default": 1, "gpu": 1}, [w("gpu-0")]), state).decisions != ()


def test_only_idle_workers_are_retired_those_holding_least_first() -> None:
    sizes = {"default": 4, "gpu": 0}
    workers = [w("default-0", 1.0), w("default-1", 0, 10_000), w("default-2", 0, 10), w("default-3", 0, 500)]
    state = PolicyState(idle_since={n.name: 0.0 for n in workers})
    plan = decide(GROUPS, CONFIG, snap(60, sizes, workers), state)
    (d,) = plan.decisions
    # load 1 needs one worker: the busy one stays and the three idle ones go, emptiest first
    assert (d.size, d.retire) == (1, ("default-2", "default-3", "default-1"))


def test_partial_shrink_keeps_what_the_load_needs() -> None:
    sizes = {"default": 4, "gpu": 0}
    workers = [w("default-0", 1.0), w("default-1", 1.0), w("default-2"), w("default-3")]
    state = PolicyState(idle_since={"default-2": 0.0, "default-3": 0.0})
    plan = decide(GROUPS, CONFIG, snap(60, sizes, workers), state)
    assert [(d.size, d.retire) for d in plan.decisions] == [(2, ("default-2", "default-3"))]
    # queued work arriving means fewer go: 1 queued task over 2 threads → 3 workers needed
    plan = decide(GROUPS, CONFIG, snap(60, sizes, workers, queued=1), state)
    assert [(d.size, d.retire) for d in plan.decisions] == [(3, ("default-2",))]


def test_workers_of_no_group_are_ignored() -> None:
    stranger = WorkerView("someone", "tcp://x", None, 5.0)
    assert decide(GROUPS, CONFIG, snap(0, {"default": 1, "gpu": 0}, [stranger]), PolicyState()).decisions == ()


def test_tasks_waiting_for_a_resource_nobody_offers_fail_after_the_timeout_naming_it() -> None:
    tpu = (("TPU", 1.0),)
    early = decide(
        GROUPS, CONFIG, snap(0, {"default": 1, "gpu": 0}, waiting=[Waiting(tpu, 2, 59.0, ("a", "b"))]), PolicyState()
    )
    assert early.unavailable == () and early.decisions == ()
    plan = decide(
        GROUPS, CONFIG, snap(0, {"default": 1, "gpu": 0}, waiting=[Waiting(tpu, 2, 60.0, ("a", "b"))]), PolicyState()
    )
    (u,) = plan.unavailable
    assert u.keys == ("a", "b")
    assert "TPU=1" in u.message and "no worker group offers it" in u.message and "GPU" in u.message


def test_tasks_a_group_could_run_but_never_got_a_worker_for_fail_too() -> None:
    plan = decide(
        GROUPS, CONFIG, snap(0, {"default": 1, "gpu": 1}, waiting=[Waiting(GPU, 1, 61.0, ("k",))]), PolicyState()
    )
    (u,) = plan.unavailable
    assert "GPU=1" in u.message and "group 'gpu'" in u.message


def _simulate(
    groups: list[WorkerGroup], config: AutoscalerConfig, period_s: float, burst_s: float, end_s: float
) -> list[tuple[str, int, int]]:
    """Bursts of GPU work (3 tasks) every ``period_s`` lasting ``burst_s``, one look a second; the scale events."""
    sizes = {"default": 1, "gpu": 0}
    state = PolicyState()
    events = []
    t = 0.0
    while t <= end_s:
        busy = t < end_s - 60 and (t % period_s) < burst_s
        gpu_workers = [w(f"gpu-{i}", 1.0 if busy else 0.0) for i in range(sizes["gpu"])]
        waiting = [Waiting(GPU, max(0, 3 - sizes["gpu"]), 0.5)] if busy and sizes["gpu"] < 3 else []
        plan = decide(groups, config, snap(t, sizes, [w("default-0"), *gpu_workers], waiting), state)
        state = plan.state
        for d in plan.decisions:
            events.append((d.group, d.before, d.size))
            sizes[d.group] = d.size
        t += 1.0
    return events


@pytest.mark.parametrize("period_s", [3.0, 5.0, 8.0])
def test_flapping_load_does_not_start_and_stop_workers_in_a_loop(period_s: float) -> None:
    # bursts of 1 s every few seconds for 5 minutes, then a minute of quiet: one growth, one shrink at the end
    events = _simulate(GROUPS, CONFIG, period_s, 1.0, 360)
    assert events == [("gpu", 0, 2), ("gpu", 2, 0)]


def test_without_hysteresis_the_same_load_would_flap() -> None:
    # the knobs matter: an idle timeout and cooldown shorter than the pauses give a start and a stop per burst
    eager = [DEFAULT, GPU_GROUP.model_copy(update={"idle_timeout_s": 1})]
    events = _simulate(eager, CONFIG.model_copy(update={"scale_down_cooldown_s": 0}), 5.0, 1.0, 360)
    assert len(events) > 100
