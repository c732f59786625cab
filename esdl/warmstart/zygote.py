"""The zygote: the warm process that has imported Prefect and the flows, and forks a child for each launcher."""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import struct
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

from esdl.warmstart.protocol import (
    ENGINE,
    HEADER,
    PRELOAD,
    PROTOCOL,
    REQUEST_TIMEOUT_S,
    STDIO,
    Cold,
    _bind,
    _killpg,
    _unlink,
    differences,
    listening,
)


def _say(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} esdl.warmstart[{os.getpid()}]: {message}", file=sys.stderr, flush=True)


class _Run:
    """A forked child: its connection to the launcher, and the pipe that lets it run."""

    def __init__(self, pid: int, conn: socket.socket | None, go: int | None) -> None:
        self.pid, self.conn = pid, conn
        self.go = go  # write end; closed once the launcher confirmed (or the child may not run)
        self.started = time.monotonic()


class _Child:
    """What a forked child does: take over the launcher's process state and run the engine."""

    def __init__(self, request: dict[str, Any], fds: list[int], go: int) -> None:
        self.request, self.fds, self.go = request, fds, go

    def run(self) -> None:
        """Become the flow run's process (this returns only as ``python -m prefect.engine`` would)."""
        request = self.request
        os.setpgid(0, 0)
        for target, fd in zip(request["stdio"], self.fds, strict=True):
            if fd != target:
                os.dup2(fd, target)
                os.close(fd)
        for fd in STDIO:
            if fd not in request["stdio"]:
                os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        time.tzset()
        if request["env"].get("PYTHONUNBUFFERED"):
            for stream in (sys.stdout, sys.stderr):
                stream.reconfigure(write_through=True)  # type: ignore[union-attr]
        sys.path[0] = request["cwd"]
        sys.argv = [sys.argv[0], *request["argv"]]
        if "numpy" in sys.modules:
            sys.modules["numpy"].random.seed()  # (the random module reseeds itself in a forked child)
        from prefect.context import refresh_global_settings_context

        refresh_global_settings_context()  # the settings of this run's environment and working directory
        go = os.read(self.go, 1)
        os.close(self.go)
        if go != b"g":  # the launcher did not confirm: it starts the run itself, or is gone
            os._exit(75)
        import runpy

        # the module as __main__, as `python -m` runs it (its imported copy stays imported, as in `python -m`,
        # where prefect.flow_engine imports it once more under its name)
        engine = sys.modules.pop(ENGINE, None)
        try:
            runpy.run_module(ENGINE, run_name="__main__", alter_sys=True)
        finally:
            if engine is not None:
                sys.modules.setdefault(ENGINE, engine)


class Zygote:
    """The warm process: :meth:`prepare` imports, :meth:`serve` forks children until told to stop."""

    def __init__(self, socket_path: Path, preload: list[str]) -> None:
        self.socket_path = str(socket_path.absolute())
        self.preload = preload
        self.pid = os.getpid()
        self.env = dict(os.environ)
        self.files: dict[str, tuple[int, int]] = {}
        self.runs: dict[int, _Run] = {}
        self.stale: str | None = None
        self.stopping = False
        self.selector: selectors.BaseSelector = selectors.DefaultSelector()
        self.listener: socket.socket | None = None

    # -- preparing ---------------------------------------------------------------------------------------------

    def prepare(self) -> float:
        """Import what a flow run imports; the seconds that took."""
        import gc
        import importlib
        import threading

        t0 = time.perf_counter()
        for name in PRELOAD:
            importlib.import_module(name)
        from prefect.utilities.importtools import load_script_as_module

        for path in self.preload:
            path_before = list(sys.path)
            try:
                module = load_script_as_module(path)
            except Exception as err:  # a broken flow file fails its runs; the zygote serves the others
                _say(f"could not preload {path}: {type(err).__name__}: {err}")
            else:
                sys.modules.pop(module.__name__, None)  # each run executes its entry point file afresh
            sys.path[:] = path_before
        if threading.active_count() != 1:  # (every run will start cold, each saying why: see _check)
            _say(f"importing the flows started threads ({_threads()}): no run can start warm")
        self.files = _module_files()
        gc.collect()
        gc.freeze()  # what exists now is never collected: the children's memory stays shared with this one's
        return time.perf_counter() - t0

    def changed(self) -> str | None:
        """The first imported module file that changed since :meth:`prepare` (or ``None``)."""
        for path, stamp in self.files.items():
            try:
                st = os.stat(path)
            except OSError:
                return path
            if (st.st_mtime_ns, st.st_size) != stamp:
                return path
        return None

    # -- serving -----------------------------------------------------------------------------------------------

    def serve(self) -> _Child | None:
        """Fork a child for each launcher until SIGTERM or SIGINT; in a child, what it must run.

        The children are waited for, and each one's end told to its launcher; a launcher gone kills its child.
        SIGTERM or SIGINT stops the listening at once (new runs start cold) and ends this process once its
        running children have ended (their launchers forward signals to them; they are not signalled here).
        """
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        try:
            self._listen()
            signal.set_wakeup_fd(wake_w)
            for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: None)  # (the wake-up descriptor tells the loop)
            self.selector.register(wake_r, selectors.EVENT_READ, "signals")
            _say(f"listening on {self.socket_path}")
            while True:
                for key, _ in self.selector.select(timeout=5.0):
                    if key.data == "listener":
                        child = self._accept()
                        if child is not None:
                            self._forget(wake_r, wake_w)
                            return child
                    elif key.data == "signals":
                        self._signals(wake_r)
                    elif isinstance(key.data, _Run):
                        self._launcher_says(key.data)
                if self.stopping and not self.runs:
                    return None
                if self.stale and not self.runs:
                    self._reexec()
        finally:
            if os.getpid() == self.pid:
                signal.set_wakeup_fd(-1)
                self._stop_listening()
                self.selector.close()
                os.close(wake_r)
                os.close(wake_w)

    def _listen(self) -> None:
        if listening(self.socket_path):
            raise RuntimeError(f"another warm-start process listens on {self.socket_path}")
        _unlink(self.socket_path)  # (a socket file left by a zygote that died)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        umask = os.umask(0o177)  # the socket file: the owner's alone
        try:
            _bind(listener, self.socket_path)
        except BaseException:
            listener.close()
            raise
        finally:
            os.umask(umask)
        listener.listen(64)
        self.listener = listener
        self.selector.register(listener, selectors.EVENT_READ, "listener")

    def _stop_listening(self) -> None:
        if self.listener is not None:
            self.selector.unregister(self.listener)
            self.listener.close()
            self.listener = None
            _unlink(self.socket_path)

    def _signals(self, wake_r: int) -> None:
        try:
            data = os.read(wake_r, 512)
        except BlockingIOError:
            data = b""
        if (signal.SIGTERM in data or signal.SIGINT in data) and not self.stopping:
            _say(f"stopping: no more warm starts; {len(self.runs)} runs to end first")
            self.stopping = True
            self._stop_listening()
        self._reap()

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            run = self.runs.pop(pid, None)
            code = os.waitstatus_to_exitcode(status)
            ended = f"exited {code}" if code >= 0 else f"killed by signal {-code}"
            _say(f"run {pid} {ended} after {time.monotonic() - run.started:.1f} s" if run else f"{pid} {ended}")
            if run is None or run.conn is None:
                continue
            try:
                run.conn.sendall(f"killed {-code}\n".encode() if code < 0 else f"exited {code}\n".encode())
            except OSError:
                pass
            self._close(run)

    def _close(self, run: _Run) -> None:
        if run.go is not None:
            os.close(run.go)
            run.go = None
        if run.conn is not None:
            try:
                self.selector.unregister(run.conn)
            except (KeyError, ValueError):
                pass
            run.conn.close()
            run.conn = None

    def _launcher_says(self, run: _Run) -> None:
        assert run.conn is not None
        try:
            data = run.conn.recv(64)
        except OSError:
            data = b""
        if data.startswith(b"go") and run.go is not None:
            os.write(run.go, b"g")
            os.close(run.go)
            run.go = None
            return
        if not data:  # the launcher is gone: so is its run
            _killpg(run.pid, signal.SIGKILL)
            self._close(run)

    def _accept(self) -> _Child | None:
        assert self.listener is not None
        conn, _ = self.listener.accept()
        fds: list[int] = []
        try:
            conn.settimeout(REQUEST_TIMEOUT_S)
            uid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[1]
            if uid != os.getuid():
                raise Cold(f"a process of user {uid} asked")
            head, fds, _, _ = socket.recv_fds(conn, HEADER.size, len(STDIO))
            if not head:  # a probe (is it listening?), not a launcher
                conn.close()
                return None
            if len(head) != HEADER.size:
                raise Cold("a short request")
            version, size = HEADER.unpack(head)
            if version != PROTOCOL:
                raise Cold(f"protocol {version}, not {PROTOCOL}")
            request = json.loads(_recv_exactly(conn, size))
            if len(fds) != len(request["stdio"]):
                raise Cold("the standard streams did not arrive")
            self._check(request)
        except (Cold, OSError, ValueError, KeyError, TypeError) as why:
            for fd in fds:
                os.close(fd)
            try:
                conn.sendall(f"refused {why}\n".encode())
            except OSError:
                pass
            conn.close()
            _say(f"refused: {why}")
            return None
        go_r, go_w = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            os.close(go_w)
            conn.close()
            return _Child(request, fds, go_r)
        os.close(go_r)
        for fd in fds:
            os.close(fd)
        try:  # the run's own process group (the child sets it too: whichever comes first)
            os.setpgid(pid, pid)
        except OSError:
            pass
        run = _Run(pid, conn, go_w)
        self.runs[pid] = run
        _say(f"run {pid}: flow run {request['env'].get('PREFECT__FLOW_RUN_ID')}")
        try:
            conn.sendall(f"forked {pid}\n".encode())
            conn.settimeout(None)
            conn.setblocking(False)
            self.selector.register(conn, selectors.EVENT_READ, run)
        except OSError:
            _killpg(pid, signal.SIGKILL)
            self._close(run)
        return None

    def _check(self, request: dict[str, Any]) -> None:
        import threading

        if request["executable"] != sys.executable:
            raise Cold(f"another interpreter ({request['executable']})")
        differ = differences(self.env, request["env"])
        if differ:
            raise Cold("an environment it was not started with: " + ", ".join(differ[:8]))
        if threading.active_count() != 1:
            raise Cold(f"it has threads ({_threads()}), and a fork of it would not be safe")
        if self.stale is None:
            self.stale = self.changed()
            if self.stale is not None:
                _say(f"{self.stale} changed: restarting once no run is left")
        if self.stale is not None:
            raise Cold(f"its code changed ({self.stale}); it restarts")

    def _forget(self, wake_r: int, wake_w: int) -> None:
        """In a child: drop the zygote's sockets, descriptors and signal handling."""
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGTERM):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for run in self.runs.values():
            if run.go is not None:
                os.close(run.go)
            if run.conn is not None:
                run.conn.close()
        self.runs.clear()
        self.selector.close()
        if self.listener is not None:
            self.listener.close()
        os.close(wake_r)
        os.close(wake_w)

    def _reexec(self) -> NoReturn:
        _say("re-executing with the changed code")
        self._stop_listening()
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])


def _threads() -> str:
    import threading

    return ", ".join(t.name for t in threading.enumerate() if t is not threading.main_thread())


def _recv_exactly(conn: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = conn.recv(min(size - len(data), 1 << 16))
        if not chunk:
            raise Cold("the request ended early")
        data += chunk
    return bytes(data)


def _module_files() -> dict[str, tuple[int, int]]:
    """Each imported module's file outside the standard library, with its modification time and size."""
    import sysconfig

    stdlib = tuple(
        str(Path(p).resolve()) + os.sep for p in {sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"]}
    )
    out: dict[str, tuple[int, int]] = {}
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if not isinstance(path, str) or path in out:
            continue
        if path.startswith(stdlib) and "site-packages" not in path:
            continue
        try:
            st = os.stat(path)
        except OSError:
            continue
        out[path] = (st.st_mtime_ns, st.st_size)
    return out
