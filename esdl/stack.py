"""The local stack that ``esdl up`` starts and ``esdl down`` stops: the project-local PostGIS, a Prefect server,
the work pool with its deployments, the warm-start process its runs start from (:mod:`esdl.warmstart`), a
process worker, and ``esdl serve`` (SPARQL endpoint and webhooks).

Each process runs in the background with its pid and log under the state folder (``ESDL_HOME``, ``.esdl``):
``<name>.pid`` and ``logs/<name>.log``; the Prefect server's files are ``PREFECT_HOME`` (``.esdl/prefect``).
Starting is idempotent: a component whose process lives and answers is left as it is. A port taken by another
program, a server that does not become healthy or a worker that dies at start stops what this start started
and is a :class:`StackError` naming it.

``esdl up`` also writes ``prefect.toml`` in the project folder (``[api] url``): Prefect reads it from the working
directory, so every ``prefect`` and ``esdl`` command run there talks to this server (an environment variable
``PREFECT_API_URL`` still wins). ``esdl down`` removes it. The file and the worker's environment also give the
project's flow runs the settings the automations of ``deployments/automations.yaml`` rely on (heartbeats,
:mod:`esdl.automations`), which ``esdl up`` applies after the deployments.

The Prefect server's database is SQLite in ``PREFECT_HOME`` unless asked for PostgreSQL (``prefect_db="postgres"``):
then the database ``prefect`` of the catalogue's cluster, with a role of its own (:mod:`esdl.prefectdb`). The choice
is remembered (``prefect-db.json``): a start without one uses the last; asking for the other while the server runs
is a :class:`StackError` that changes nothing (``esdl down`` first: the runs of each stay in its database).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from esdl import warmstart
from esdl.automations import run_env, run_toml
from esdl.prefectdb import SETTING, Backend, PrefectDatabase, sqlite_url

POOL = "esdl-local"
POOL_CONCURRENCY = 2
# how often the worker asks for scheduled runs (Prefect's default: 10): half of it is the average wait of a run
# started from a webhook or the UI; each ask costs the Prefect server about 17 ms of CPU (1.7 % of a core at 1 s)
WORKER_POLL_S = 1
PREFECT_TOML = "prefect.toml"


class StackError(Exception):
    """A component could not be started (the message names it and where its log is)."""


@dataclass
class Stack:
    """The local stack of the project at ``root`` (state under ``home``)."""

    root: Path
    home: Path
    prefect_port: int = 4200
    serve_port: int = 8000
    say: Callable[[str], None] = print
    started: list[str] = field(default_factory=list)
    prefect_db: Backend | None = None  # the Prefect server's database; None: the one it last ran on (or SQLite)

    @property
    def bin(self) -> Path:
        return Path(sys.executable).parent

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.prefect_port}/api"

    def _pidfile(self, name: str) -> Path:
        return self.home / f"{name}.pid"

    def _log(self, name: str) -> Path:
        return self.home / "logs" / f"{name}.log"

    def pid(self, name: str) -> int | None:
        """The live process of component ``name``, if any."""
        try:
            pid = int(self._pidfile(name).read_text().strip())
            os.kill(pid, 0)
        except (OSError, ValueError):
            return None
        return pid

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PREFECT_HOME": str(self.home / "prefect"),
            "PREFECT_API_URL": self.api_url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "ESDL_HOME": str(self.home),
            **run_env(),  # the flow runs' heartbeats and API retries, which the automations rely on
        }

    def _spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> int:
        self._log(name).parent.mkdir(parents=True, exist_ok=True)
        with open(self._log(name), "ab") as log:
            proc = subprocess.Popen(
                args,
                cwd=self.root,
                env=env or self._env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # (not stopped by the terminal's Ctrl-C of this command)
            )
        self._pidfile(name).write_text(str(proc.pid))
        self.started.append(name)
        return proc.pid

    def _wait(self, name: str, ready: Callable[[], bool], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.pid(name) is None:
                raise StackError(f"{name} exited at start; see {self._log(name)}")
            if ready():
                return
            time.sleep(0.5)
        raise StackError(f"{name} did not become ready in {timeout_s:g} s; see {self._log(name)}")

    def _port_free(self, name: str, port: int) -> None:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                raise StackError(f"port {port} ({name}) is in use by another program; free it or choose another port")

    # -- components ----------------------------------------------------------------------------------------------

    def database(self) -> str:
        """The catalogue: the local PostGIS started (or ``ESDL_DATABASE_URL``), migrated, its reader role."""
        from esdl.api.settings import SparqlSettings
        from semantic.store import db as store
        from semantic.store.roles import ensure_reader
        from semantic.store.settings import DatabaseSettings

        settings = DatabaseSettings(home=self.home)  # type: ignore[call-arg]
        if settings.database_url is not None:
            engine = store.make_engine(store.normalize_url(settings.database_url.get_secret_value()))
            store.upgrade(engine)
            return "the database of ESDL_DATABASE_URL, at the newest schema"
        cluster = store.local_cluster(settings)
        was_running = cluster.running()
        engine = store.make_engine(cluster.up())
        store.upgrade(engine)
        ensure_reader(engine, SparqlSettings().read_role, cluster.reader_password())
        if not was_running:
            self.started.append("postgis")
        port = cluster.status()["port"]
        return f"PostGIS on 127.0.0.1:{port} ({'already running' if was_running else 'started'})"

    def server(self) -> str:
        """The Prefect server, on SQLite or PostgreSQL (``prefect_db``; its database made first)."""
        db = PrefectDatabase.load(self.home)
        if self.pid("prefect-server") is not None and _healthy(self.api_url + "/health"):
            return f"Prefect server {self.api_url} on {db.backend} (already running)"
        self._port_free("Prefect server", self.prefect_port)
        db.backend = self.prefect_db or db.backend
        url = db.connection_url(self._admin_url() if db.backend == "postgres" else None, self.home / "prefect")
        self._spawn(
            "prefect-server",
            [str(self.bin / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(self.prefect_port)],
            {**self._env(), SETTING: url},  # (the password: in this process's environment only)
        )
        self._wait("prefect-server", lambda: _healthy(self.api_url + "/health"), 180)
        db.save(self.home)
        return f"Prefect server {self.api_url} on {db.backend}, {db.shown} (started)"

    def _admin_url(self) -> str:
        """A URL of the catalogue's cluster as a role that may create roles and databases: the local cluster's
        owner, or ``ESDL_DATABASE_URL``'s user."""
        from semantic.store import db as store
        from semantic.store.settings import DatabaseSettings

        settings = DatabaseSettings(home=self.home)  # type: ignore[call-arg]
        if settings.database_url is not None:
            return store.normalize_url(settings.database_url.get_secret_value())
        state = store.local_cluster(settings).state()
        if state is None:
            raise StackError("the project's PostgreSQL was not started (it is, before the Prefect server)")
        return state.url("postgres")

    def _check_prefect_db(self) -> None:
        """Refuse a ``prefect_db`` other than the running server's."""
        running = PrefectDatabase.load(self.home).backend
        if self.prefect_db not in (None, running) and self.pid("prefect-server") is not None:
            raise StackError(
                f"the Prefect server runs on {running}, not {self.prefect_db}: nothing changed; stop the stack "
                f"(esdl down) to start it on {self.prefect_db} (the runs on {running} stay in its database)"
            )

    def deployments(self) -> str:
        """The work pool (with its concurrency limit) and every deployment of ``deployments/prefect.yaml``."""
        import yaml

        declared = yaml.safe_load((self.root / "deployments" / "prefect.yaml").read_text())["deployments"]
        names = {d["name"] for d in declared}
        registered = self._registered()
        if names <= registered:
            return f"work pool {POOL} and {len(names)} deployments (already registered)"
        prefect = str(self.bin / "prefect")
        for args in (
            ["work-pool", "create", POOL, "--type", "process", "--overwrite"],
            ["work-pool", "set-concurrency-limit", POOL, str(POOL_CONCURRENCY)],
            ["--no-prompt", "deploy", "--all", "--prefect-file", "deployments/prefect.yaml"],
        ):
            done = subprocess.run([prefect, *args], cwd=self.root, env=self._env(), capture_output=True, text=True)
            if done.returncode != 0:
                raise StackError(f"prefect {' '.join(args)} failed: {(done.stderr or done.stdout).strip()[-500:]}")
        return f"work pool {POOL} and {len(names)} deployments (registered)"

    def _registered(self) -> set[str]:
        try:
            with urllib.request.urlopen(
                urllib.request.Request(
                    self.api_url + "/deployments/filter", data=b"{}", headers={"Content-Type": "application/json"}
                ),
                timeout=10,
            ) as r:
                return {d["name"] for d in json.loads(r.read()) if d.get("work_pool_name") == POOL}
        except OSError:
            return set()

    def _worker_env(self) -> dict[str, str]:
        """The worker's environment, and the zygote's (a run's may differ from the zygote's in Prefect's
        settings only, or the run starts cold: :func:`esdl.warmstart.differences`)."""
        return {**self._env(), "PREFECT_WORKER_QUERY_SECONDS": str(WORKER_POLL_S)}

    def zygote(self) -> str:
        """The warm-start process (:mod:`esdl.warmstart`, the flows of ``deployments/prefect.yaml`` imported), and
        the work pool's job command that starts each run through it."""
        sock = self.home / warmstart.SOCKET
        state = "already running"
        if self.pid("zygote") is None:
            preload = warmstart.entrypoint_files(self.root / "deployments" / "prefect.yaml")
            self._spawn("zygote", warmstart.zygote_command(sock, preload), self._worker_env())
            self._wait("zygote", lambda: warmstart.listening(sock), 180)
            state = "started"
        try:
            warmstart.set_pool_command(self.api_url, POOL, sock)
        except OSError as err:
            raise StackError(f"the work pool {POOL}'s job command could not be set: {err}") from None
        return f"warm starts of {POOL}'s runs from {sock} ({state})"

    def worker(self) -> str:
        if self.pid("worker") is not None:
            return f"process worker of {POOL} (already running)"
        env = self._worker_env()
        self._spawn("worker", [str(self.bin / "prefect"), "worker", "start", "--pool", POOL, "--type", "process"], env)
        time.sleep(3)  # a worker that cannot start (no server, no pool) exits within this
        if self.pid("worker") is None:
            raise StackError(f"the worker exited at start; see {self._log('worker')}")
        return f"process worker of {POOL}, polling every {WORKER_POLL_S} s (started)"

    def serve(self) -> str:
        url = f"http://127.0.0.1:{self.serve_port}"
        if self.pid("serve") is not None and _healthy(url + "/sparql?query=ASK%7B%7D"):
            return f"SPARQL endpoint {url}/sparql, webhooks {url}/hooks/NAME (already running)"
        self._port_free("esdl serve", self.serve_port)
        self._spawn("serve", [str(self.bin / "esdl"), "serve", "--port", str(self.serve_port)])
        self._wait("serve", lambda: _healthy(url + "/sparql?query=ASK%7B%7D"), 120)
        return f"SPARQL endpoint {url}/sparql, webhooks {url}/hooks/NAME (started)"

    def automations(self) -> str:
        """The automations of ``deployments/automations.yaml`` (by name: created, updated or already so)."""
        from esdl.automations import AUTOMATIONS_FILE, AutomationsError, apply

        try:
            return "; ".join(apply(self.root / AUTOMATIONS_FILE, self.api_url))
        except AutomationsError as err:
            raise StackError(str(err)) from None

    def profile(self) -> str:
        path = self.root / PREFECT_TOML
        text = f'# written by `esdl up`: Prefect commands run here use this server\n[api]\nurl = "{self.api_url}"\n'
        text += run_toml()  # (builds run here send heartbeats: esdl.automations)
        if path.exists() and path.read_text() == text:
            return f"{PREFECT_TOML}: Prefect commands here use {self.api_url} (already)"
        path.write_text(text)
        return f"{PREFECT_TOML}: Prefect commands here use {self.api_url}"

    # -- the whole stack -----------------------------------------------------------------------------------------

    def up(self) -> list[str]:
        """Start every component not running (in order), each line saying what it is and whether it started.

        Raises:
            StackError: A component failed; what this call started has been stopped again.
        """
        self._check_prefect_db()
        lines = []
        try:
            for step in (
                self.database,
                self.server,
                self.deployments,
                self.automations,
                self.zygote,
                self.worker,
                self.serve,
                self.profile,
            ):
                lines.append(step())
                self.say(lines[-1])
        except Exception:
            self.stop(self.started)
            raise
        return lines

    def stop(self, names: list[str]) -> list[str]:
        """Stop the components ``names`` (newest first); what was stopped."""
        stopped = []
        for name in reversed(names):
            if name == "postgis":
                from semantic.store import db as store
                from semantic.store.settings import DatabaseSettings

                if store.local_cluster(DatabaseSettings(home=self.home)).down():  # type: ignore[call-arg]
                    stopped.append(name)
                continue
            pid = self.pid(name)
            if pid is not None:
                _terminate(pid)
                stopped.append(name)
            self._pidfile(name).unlink(missing_ok=True)
        return stopped

    def down(self) -> list[str]:
        """Stop every component; remove ``prefect.toml``."""
        stopped = self.stop(["postgis", "prefect-server", "zygote", "worker", "serve"])
        toml = self.root / PREFECT_TOML
        if toml.exists() and "esdl up" in toml.read_text():
            toml.unlink()
        return stopped

    def status(self) -> dict[str, Any]:
        from semantic.store import db as store
        from semantic.store.settings import DatabaseSettings

        db = store.local_cluster(DatabaseSettings(home=self.home)).status()  # type: ignore[call-arg]
        prefect_db = PrefectDatabase.load(self.home)
        serve = f"http://127.0.0.1:{self.serve_port}"
        return {
            "postgis": {"running": db["running"], "port": db.get("port")},
            "prefect-server": {
                "running": self.pid("prefect-server") is not None and _healthy(self.api_url + "/health"),
                "pid": self.pid("prefect-server"),
                "url": self.api_url.removesuffix("/api"),
                "database": prefect_db.backend,
                "database_url": prefect_db.shown or sqlite_url(self.home / "prefect"),
            },
            "zygote": {
                "running": self.pid("zygote") is not None,
                "pid": self.pid("zygote"),
                "socket": str(self.home / warmstart.SOCKET),
            },
            "worker": {"running": self.pid("worker") is not None, "pid": self.pid("worker"), "pool": POOL},
            "serve": {
                "running": self.pid("serve") is not None,
                "pid": self.pid("serve"),
                "url": f"{serve}/sparql",
                "hooks": f"{serve}/hooks/NAME",
            },
        }


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def _terminate(pid: int, timeout_s: float = 20) -> None:
    """SIGTERM the process group of ``pid`` (its children too), SIGKILL after ``timeout_s``."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        try:  # (reap it if it is our child)
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.2)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


__all__ = ["POOL", "Stack", "StackError"]
