"""The trivial flow of the webhook-to-running measurement: it sleeps ``seconds`` and returns.

A process worker loads it by path (``bench/_orchestrationbench/sleeper.py:bench_sleep``) from the repository
root, so it imports nothing but Prefect. It takes the same ``spec`` and ``resume`` as the build-cube flow, so
that its hook maps the same body.
"""

from __future__ import annotations

import time

from prefect import flow

FLOW_NAME = "esdl-bench-sleep"
ENTRYPOINT = "bench/_orchestrationbench/sleeper.py:bench_sleep"  # relative to the repository root


@flow(name=FLOW_NAME, log_prints=False, persist_result=False)
def bench_sleep(spec: str, resume: bool = False, seconds: float = 1.0) -> float:
    """Sleep ``seconds``; return them."""
    time.sleep(seconds)
    return seconds
