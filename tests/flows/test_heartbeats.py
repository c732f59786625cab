"""``flows.heartbeats``: Prefect's flow-run heartbeat thread replaced by one that ends as soon as the run does.

The engine here is a stand-in with the four members the function uses; the real one is exercised by every flow
run of the suite (``flows`` installs the replacement on import), and the heartbeats' effect on the server (the
crash automation) by ``tests/cli/test_crashes.py``.
"""

from __future__ import annotations

import logging
import threading
from types import SimpleNamespace
from typing import Any

import prefect
import prefect.flow_engine
import pytest

import flows
from flows import heartbeats


class Engine:
    """What ``_send_heartbeats`` reads of a flow-run engine; each heartbeat sent is recorded."""

    def __init__(self, seconds: int | None = 30, final: bool = False) -> None:
        self.heartbeat_seconds = seconds
        self.flow_run = SimpleNamespace(state=SimpleNamespace(is_final=lambda: final))
        self.logger = logging.getLogger("test-heartbeats")
        self.sent: list[tuple[Any, Any]] = []
        self.first = threading.Event()

    def _build_heartbeat_event_template(self) -> tuple[dict[str, str], list[Any]]:
        return {"prefect.resource.id": "prefect.flow-run.x"}, []

    def _emit_flow_run_heartbeat(self, resource: Any, related: Any) -> None:
        self.sent.append((resource, related))
        self.first.set()


def heartbeat_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t is not threading.main_thread() and t.daemon}


def test_installed_on_the_pinned_prefect() -> None:
    """``flows`` put it in place; an upgrade of Prefect fails here until the new function has been read."""
    assert flows  # (imported: the package installs it)
    assert prefect.__version__ in heartbeats.PATCHED_VERSIONS, (
        f"Prefect {prefect.__version__}: read its flow_engine._send_heartbeats, and add the version to "
        "flows.heartbeats.PATCHED_VERSIONS or drop the replacement"
    )
    assert heartbeats.install()
    assert prefect.flow_engine._send_heartbeats is heartbeats.send_heartbeats


def test_first_heartbeat_at_start_none_after_the_end(monkeypatch: pytest.MonkeyPatch) -> None:
    """One heartbeat when the run starts, the thread gone when the context ends, even while a ``time.sleep`` of
    Prefect's own loop would still be sleeping (it is made to block here): the end does not wait for it."""
    never = threading.Event()
    monkeypatch.setattr(prefect.flow_engine.time, "sleep", lambda s: never.wait(5))
    engine = Engine(seconds=30)
    before = heartbeat_threads()
    with prefect.flow_engine._send_heartbeats(engine):  # type: ignore[arg-type]  # (a stand-in)
        assert engine.first.wait(10), "no heartbeat at the start"
        started = heartbeat_threads() - before
        assert len(started) == 1
    (thread,) = started
    assert not thread.is_alive(), "the heartbeat thread outlived the run"
    assert len(engine.sent) == 1


def test_nothing_sent_for_a_final_run_or_without_a_frequency() -> None:
    final = Engine(final=True)
    with heartbeats.send_heartbeats(final):
        pass
    assert final.sent == []
    off = Engine(seconds=None)
    before = heartbeat_threads()
    with heartbeats.send_heartbeats(off):
        assert heartbeat_threads() == before  # no thread at all
    assert off.sent == []


def test_heartbeats_repeat_at_the_interval_floor(monkeypatch: pytest.MonkeyPatch) -> None:
    """The interval is at least Prefect's minimum (30 s): a frequency of 1 s does not send one a second."""
    engine = Engine(seconds=1)
    with heartbeats.send_heartbeats(engine):
        assert engine.first.wait(10)
        threading.Event().wait(1.5)  # a 1 s interval would have sent a second heartbeat by now
    assert len(engine.sent) == 1


def test_without_join_the_thread_still_stops() -> None:
    """``join_on_exit=False`` (Prefect's async engine): the context returns at once and the thread ends by itself."""
    engine = Engine()
    before = heartbeat_threads()
    with heartbeats.send_heartbeats(engine, join_on_exit=False):
        assert engine.first.wait(10)
        (thread,) = heartbeat_threads() - before
    thread.join(10)
    assert not thread.is_alive()
    assert len(engine.sent) == 1
