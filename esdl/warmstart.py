"""Warm starts of flow runs: a process worker's flow run starts in a forked copy of a process that has already
imported Prefect and the project's flows, instead of in a new Python that imports them again (2-3 s for Prefect,
5-8 s with the build's xarray, Dask and xcube, on the development machine).

Two parts, both run with the project's interpreter (``python -m esdl.warmstart``):

``zygote --socket PATH [--preload FILE]...``
    A long-lived process (a stack component of ``esdl up``) that imports ``prefect.engine``, the modules a flow
    run uses, and the modules each ``--preload`` entry point file imports (the file is executed once, then
    forgotten), and then listens on a UNIX socket (mode 0600, peers of other users refused). It starts no thread
    and no event loop, so that forking it is safe; it refuses to fork when it finds a thread.

``launch PATH [ARGS]...``
    What the work pool's job template runs instead of ``python -m prefect.engine`` (its ``command``). Standard
    library only, so it starts in some 50 ms. It sends the zygote its environment, working directory, arguments
    and standard input, output and error (the descriptors themselves, ``SCM_RIGHTS``); the zygote forks a child
    that takes them over and runs ``prefect.engine`` as ``__main__``, as ``python -m prefect.engine`` would. The
    launcher then stays the process Prefect knows: it forwards SIGTERM, SIGINT and SIGHUP to the child's process
    group (Prefect's cancellation signals the process it started; the child leads a group of its own, as a run of
    Prefect's default job template leads a session of its own, so the run's own subprocesses get them too), and
    ends as the child ended (its exit code, or killed by the same signal). If the launcher dies, the zygote kills
    the child's group; if the zygote dies, the launcher does.

Correctness never depends on the zygote: when it is not running, is restarting, refuses (an environment it was
not started with: see :func:`differences`; a thread; its code changed on disk) or anything else fails before the
fork, the launcher replaces itself with ``python -m prefect.engine`` (``os.execv``: the same process), a cold
start. The launcher confirms the fork before the child may run, so a run never starts twice.

What the child shares with the zygote, and a fresh Python would not:

* modules already imported: the zygote compares each imported module's file (outside the standard library)
  with what it imported before every fork, and when one changed it stops forking (cold starts) and, once no run
  of it is left, re-executes itself with the new code. The flow's entry point file itself is executed afresh in
  each run, as Prefect always does;
* the environment variables read at start-up (the interpreter's ``PYTHON*``, native libraries' thread settings,
  Dask's configuration...): a run whose environment differs from the zygote's in anything but Prefect's run-time
  settings and esdl's own (read when used) starts cold instead;
* the hash seed of ``str`` (``PYTHONHASHSEED``): the same in every child. The random module and NumPy's global
  generator are seeded afresh in each child.
"""

from __future__ import annotations

# (the launcher imports this module: nothing here that it does not need; the rest is imported where used)
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

SOCKET = "warmstart.sock"
ENGINE = "prefect.engine"
PROTOCOL = 1
HEADER = struct.Struct("!BI")  # protocol version, length of the JSON request; the descriptors ride on it
STDIO = (0, 1, 2)
CONNECT_TIMEOUT_S = 1.0
REPLY_TIMEOUT_S = 10.0  # the zygote answers within milliseconds; a stuck one means a cold start
REQUEST_TIMEOUT_S = 5.0  # the longest the zygote waits for a launcher's request
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
# environment variables that may differ between the zygote and a run: read when used (Prefect's settings are read
# again in the child), not when a module is imported
VARIABLE = ("PREFECT_", "ESDL_")
# ... except these, which Prefect reads at import (its logging set-up) or to find its settings' files
FIXED = ("PREFECT_LOGGING_", "PREFECT_HOME", "PREFECT_PROFILE")
IGNORED = frozenset({"_", "PWD", "OLDPWD", "SHLVL"})  # a shell's bookkeeping
# what a flow run imports besides its flow (found by comparing a child's modules before and after its run)
PRELOAD = (
    ENGINE,
    "prefect.flow_engine",
    "prefect.deployments.steps",
    "prefect.deployments.steps.core",
    "anyio._backends._asyncio",
    "anyio.streams.memory",
    "anyio.streams.stapled",
    "anyio.streams.tls",
    "rich._emoji_codes",
)


class Cold(Exception):
    """No warm start: why (the launcher starts the engine the plain way)."""


def launcher_command(socket_path: Path | str) -> str:
    """The job template's ``command`` that starts a flow run through the zygote at ``socket_path``."""
    import shlex

    return shlex.join([sys.executable, "-m", "esdl.warmstart", "launch", str(Path(socket_path).absolute())])


def zygote_command(socket_path: Path | str, preload: list[str]) -> list[str]:
    """The command line of a zygote listening at ``socket_path`` with the entry point files ``preload``."""
    args = [sys.executable, "-m", "esdl.warmstart", "zygote", "--socket", str(Path(socket_path).absolute())]
    for path in preload:
        args += ["--preload", path]
    return args


def job_template(socket_path: Path | str) -> dict[str, Any]:
    """Prefect's base job template of a process work pool, its ``command`` the launcher's (every deployment of the
    pool starts warm, unless its job variables name another command)."""
    from prefect.workers.process import ProcessWorker

    template: dict[str, Any] = ProcessWorker.get_default_base_job_template()
    template["variables"]["properties"]["command"]["default"] = launcher_command(socket_path)
    return template


def set_pool_command(api_url: str, pool: str, socket_path: Path | str) -> bool:
    """Make the process work pool ``pool`` start its runs through the zygote at ``socket_path`` (its job
    template's ``command``, through the Prefect API at ``api_url``); whether that changed anything.

    Raises:
        OSError: The API cannot be reached or refused (an ``urllib`` error).
    """
    import urllib.request

    url = f"{api_url.rstrip('/')}/work_pools/{pool}"
    with urllib.request.urlopen(url, timeout=30) as r:
        template = json.loads(r.read())["base_job_template"]
    command = template.setdefault("variables", {}).setdefault("properties", {}).setdefault("command", {})
    wanted = launcher_command(socket_path)
    if command.get("default") == wanted:
        return False
    command["default"] = wanted
    body = json.dumps({"base_job_template": template}).encode()
    change = urllib.request.Request(url, data=body, method="PATCH", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(change, timeout=30):
        return True


def listening(socket_path: Path | str) -> bool:
    """Whether a zygote accepts connections at ``socket_path``."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(CONNECT_TIMEOUT_S)
        try:
            _connect(probe, str(socket_path))
        except OSError:
            return False
    return True


def entrypoint_files(prefect_yaml: Path) -> list[str]:
    """The flow files of the deployments a ``prefect.yaml`` declares (relative to its project), each once: what a
    zygote preloads."""
    import yaml

    declared = yaml.safe_load(prefect_yaml.read_text(encoding="utf-8")).get("deployments") or []
    files = [str(d["entrypoint"]).rpartition(":")[0] for d in declared if ".py:" in str(d.get("entrypoint", ""))]
    return list(dict.fromkeys(files))


def differences(base: dict[str, str], env: dict[str, str]) -> list[str]:
    """The environment variables of ``env`` that a run cannot have differently from the zygote's ``base``."""
    out = []
    for key in sorted(base.keys() | env.keys()):
        if base.get(key) == env.get(key) or key in IGNORED:
            continue
        if key.startswith(VARIABLE) and not key.startswith(FIXED):
            continue
        out.append(key)
    return out


def _connect(sock: socket.socket, path: str) -> None:
    _by_path(sock.connect, path)


def _bind(sock: socket.socket, path: str) -> None:
    _by_path(sock.bind, path)


def _by_path(op: Any, path: str) -> None:
    """``op(path)`` for a socket path, also one longer than ``sun_path`` allows (relative, from its folder)."""
    if len(os.fsencode(path)) < 100:
        op(path)
        return
    here = os.open(".", os.O_RDONLY)
    try:
        os.chdir(os.path.dirname(path))
        op(os.path.basename(path))
    finally:
        os.fchdir(here)
        os.close(here)


def _readline(sock: socket.socket, limit: int = 4096) -> str:
    """One line from ``sock`` (``""`` at end of stream), read a byte at a time: nothing after it is consumed."""
    data = bytearray()
    while len(data) < limit:
        byte = sock.recv(1)
        if not byte:
            break
        if byte == b"\n":
            return data.decode("utf-8", "replace")
        data += byte
    return ""


# -- the launcher -------------------------------------------------------------------------------------------------


def launch(socket_path: str, args: list[str]) -> NoReturn:
    """Run the flow run of this process's environment in a child of the zygote, or cold; exit as it exited."""
    try:
        sock, pid = _fork_remotely(socket_path, args)
    except (Cold, OSError, ValueError) as why:
        _cold(args, str(why) or type(why).__name__)
    _supervise(sock, pid)


def _cold(args: list[str], why: str) -> NoReturn:
    print(f"esdl.warmstart: cold start ({why})", file=sys.stderr, flush=True)
    os.execv(sys.executable, [sys.executable, "-m", ENGINE, *args])


def _fork_remotely(socket_path: str, args: list[str]) -> tuple[socket.socket, int]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(CONNECT_TIMEOUT_S)
        try:
            _connect(sock, socket_path)
        except (FileNotFoundError, ConnectionRefusedError):
            raise Cold("no warm-start process is listening") from None
        stdio = [fd for fd in STDIO if _is_open(fd)]
        request = {"argv": args, "cwd": os.getcwd(), "env": dict(os.environ), "executable": sys.executable}
        payload = json.dumps({**request, "stdio": stdio}).encode()
        sock.settimeout(REPLY_TIMEOUT_S)
        socket.send_fds(sock, [HEADER.pack(PROTOCOL, len(payload))], stdio)
        sock.sendall(payload)
        answer = _readline(sock)
        verb, _, rest = answer.partition(" ")
        if verb == "refused":
            raise Cold(f"the warm-start process refused: {rest}")
        if verb != "forked" or not rest.isdigit():
            raise Cold(f"the warm-start process answered {answer!r}")
        pid = int(rest)
        sock.sendall(b"go\n")  # from here on the child runs: no cold start any more
        sock.settimeout(None)
        return sock, pid
    except BaseException:
        sock.close()
        raise


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def _supervise(sock: socket.socket, pid: int) -> NoReturn:
    """Forward signals to the child's process group; exit as the child exited (told by the zygote)."""
    for sig in FORWARDED:
        signal.signal(sig, lambda signum, _frame: _killpg(pid, signum))
    try:
        answer = _readline(sock)
    except OSError:
        answer = ""
    verb, _, rest = answer.partition(" ")
    if verb == "exited" and rest.lstrip("-").isdigit():
        sys.stdout.flush()
        os._exit(int(rest))
    if verb == "killed" and rest.isdigit():  # end by the same signal
        number = int(rest)
        for forwarded in FORWARDED:
            signal.signal(forwarded, signal.SIG_DFL)
        if number not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)
        time.sleep(1)  # (a signal whose default is not to end: end anyway)
        os._exit(128 + number)
    # the zygote went away: the child has nobody to tell its end, so it ends now
    _killpg(pid, signal.SIGKILL)
    print("esdl.warmstart: the warm-start process went away; the flow run's process was killed", file=sys.stderr)
    os._exit(1)


# -- the zygote ---------------------------------------------------------------------------------------------------


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


def _killpg(pgid: int, sig: int) -> None:
    """``sig`` to a run's process group: the run and what it started (as Prefect's default job signals a run's
    process group, which it starts in a session of its own)."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


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


def main(argv: list[str] | None = None) -> int:
    """``python -m esdl.warmstart zygote ...`` or ``... launch ...``."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["launch"] and len(argv) >= 2:  # (quick: no argparse)
        launch(argv[1], argv[2:])
    import argparse

    parser = argparse.ArgumentParser(prog="python -m esdl.warmstart", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    z = sub.add_parser("zygote", help="the warm process that forks flow runs")
    z.add_argument("--socket", type=Path, required=True)
    z.add_argument("--preload", action="append", default=[], help="an entry point file to import (repeatable)")
    la = sub.add_parser("launch", help="start a flow run through the zygote (the job's command)")
    la.add_argument("socket")
    la.add_argument("args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.what == "launch":
        launch(args.socket, args.args)
    zygote = Zygote(args.socket, args.preload)
    try:
        took = zygote.prepare()
    except Exception as err:
        _say(f"cannot start: {err}")
        return 2
    _say(f"imported {len(sys.modules)} modules in {took:.1f} s (watching {len(zygote.files)} files)")
    child = zygote.serve()
    if child is None:
        _say("stopped")
        return 0
    child.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
