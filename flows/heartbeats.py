"""Flow-run heartbeats that end when the run ends: a replacement for Prefect 3.8.8's ``_send_heartbeats``.

Prefect 3.8.8 sends a flow run's heartbeats from a thread that sleeps in steps of one second
(``for _ in range(heartbeat_seconds): time.sleep(1)``), and the end of every sync flow run joins that thread. So
every flow run ends up to one second after its last statement, 0.5 s on average and nearly 1 s for a short one:
0.6 s of a cube build, most of Prefect's cost for a notebook run (measured in ``bench/cube_build.py`` and
``bench/notebooks.py``).

The replacement keeps all of Prefect's behaviour (the same events, first one at the start; nothing sent once the
run is final or the context has ended; the thread joined at the end, so no heartbeat can follow the run's final
state), and waits on its stop event instead of sleeping, so that the join returns at once. :func:`install` puts it
in place of Prefect's function; ``flows`` calls it when imported, so every process that runs one of the
project's flows (the worker's flow-run processes, the warm-start zygote, ``esdl cube build``) has it. It installs
only on the Prefect versions in :data:`PATCHED_VERSIONS` (the one ``constraints.txt`` pins, whose function was read
for this); on another version it changes nothing and :func:`install` returns ``False`` (a test fails then, so that
an upgrade is looked at).
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

PATCHED_VERSIONS = frozenset({"3.8.8"})
"""Prefect versions whose ``flow_engine._send_heartbeats`` this replaces (read, and measured, for each)."""


@contextmanager
def send_heartbeats(engine: Any, join_on_exit: bool = True) -> Iterator[None]:
    """Prefect's ``_send_heartbeats(engine, join_on_exit)``, its loop waiting on the stop event."""
    from prefect.flow_engine import MINIMUM_HEARTBEAT_INTERVAL

    seconds = engine.heartbeat_seconds
    if seconds is None:
        yield
        return
    seconds = max(seconds, MINIMUM_HEARTBEAT_INTERVAL)
    resource, related = engine._build_heartbeat_event_template()
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            run = engine.flow_run
            if run is not None and run.state is not None and run.state.is_final():
                engine.logger.debug("Flow run in terminal state, stopping heartbeat")
                return
            try:
                engine._emit_flow_run_heartbeat(resource, related)
            except Exception:
                engine.logger.debug("Failed to emit heartbeat", exc_info=True)
            if stop.wait(seconds):
                return

    # (the caller's context, as Prefect's does: its settings, and so its API URL, in the thread)
    context = contextvars.copy_context()
    thread = threading.Thread(target=context.run, args=(loop,), daemon=True, name="flow-run-heartbeats")
    thread.start()
    engine.logger.debug("Started flow run heartbeat context")
    try:
        yield
    finally:
        stop.set()
        if join_on_exit:
            thread.join(timeout=2)
        engine.logger.debug("Stopped flow run heartbeat context")


def install() -> bool:
    """Put :func:`send_heartbeats` in place of Prefect's; whether it is in place (``False`` on a Prefect version
    not in :data:`PATCHED_VERSIONS`, which is left as it is)."""
    import prefect
    import prefect.flow_engine as engine

    if prefect.__version__ not in PATCHED_VERSIONS:
        return False
    engine._send_heartbeats = send_heartbeats  # type: ignore[assignment]  # (looked up at each flow run)
    return True


__all__ = ["PATCHED_VERSIONS", "install", "send_heartbeats"]
