"""One writer per cube (``flows/locks.py``): a second writer of the same output waits for the first, other outputs
do not, a bounded wait ends in TimeoutError naming the holder, and a holder killed with SIGKILL frees the lock
at once (a ``--resume`` right after a killed build must not wait)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from esdl_testing.paths import REPO_ROOT
from flows.locks import lock_path, one_writer


def test_a_second_writer_of_the_same_cube_waits_for_the_first(tmp_path: Path) -> None:
    output = str(tmp_path / "cube.zarr")
    log: list[str] = []
    first_in = threading.Event()

    def first() -> None:
        with one_writer(output):
            log.append("first in")
            first_in.set()
            time.sleep(1.5)
            log.append("first out")

    def second() -> None:
        first_in.wait(60)
        with one_writer(output):
            log.append("second in")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert log == ["first in", "first out", "second in"]


def test_writers_of_other_cubes_do_not_wait(tmp_path: Path) -> None:
    with one_writer(str(tmp_path / "a.zarr")), one_writer(str(tmp_path / "b.zarr"), wait_s=0):
        pass


def test_a_bounded_wait_ends_in_timeout_error_naming_the_holder(tmp_path: Path) -> None:
    output = str(tmp_path / "held.zarr")
    with one_writer(output):
        errors: list[BaseException] = []

        def other() -> None:
            try:
                with one_writer(output, wait_s=1):
                    pass
            except TimeoutError as err:
                errors.append(err)

        t = threading.Thread(target=other)
        t.start()
        t.join(60)
    assert len(errors) == 1 and f"pid {os.getpid()}" in str(errors[0])


def test_a_holder_killed_with_sigkill_frees_the_lock_at_once(tmp_path: Path) -> None:
    output = str(tmp_path / "killed.zarr")
    script = f"from flows.locks import one_writer\nwith one_writer({output!r}):\n    print('held', flush=True)\n"
    script += "    import time\n    time.sleep(600)\n"
    holder = subprocess.Popen([sys.executable, "-c", script], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(TimeoutError), one_writer(output, wait_s=0.5):
            pass
        holder.send_signal(signal.SIGKILL)
        holder.wait(30)
        start = time.monotonic()
        with one_writer(output, wait_s=5):
            assert time.monotonic() - start < 5
    finally:
        if holder.poll() is None:
            holder.kill()


def test_the_lock_file_is_beside_the_output_and_distinct_per_output(tmp_path: Path) -> None:
    a, b = lock_path(str(tmp_path / "x" / "c.zarr")), lock_path(f"file://{tmp_path}/y/c.zarr")
    assert a.parent == tmp_path / "x" and b.parent == tmp_path / "y" and a.name != b.name
    assert a.name.startswith(".c.zarr.")
