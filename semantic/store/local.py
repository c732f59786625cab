"""A project-local PostgreSQL + PostGIS cluster, run from the system's binaries (Debian's postgresql-15).

Layout under the project's state folder (``ESDL_HOME``, default ``.esdl``)::

    postgres.json          where the cluster is: data folder, port, role, password, database (mode 0600)
    postgres/data/         the cluster (owned by the user the server runs as)
    postgres/server.log

PostgreSQL refuses to run as root. When this process is root, every server command runs as the ``postgres``
system user (``runuser``) and the data folder is owned by it; if that user cannot reach the project folder
(a home folder of mode 0700, say), the data folder goes to ``/var/lib/esdl/<hash of the project path>``
instead and ``postgres.json`` says so.

The server listens on 127.0.0.1 only, on a port free when the cluster was first started (another free one is
taken if it is busy at a later start), and authenticates with a random password (SCRAM).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from semantic.errors import DatabaseError

ROLE = "esdl"
DATABASE = "esdl"
SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "unix_socket_directories": "",
    "max_wal_size": "2GB",
    "shared_buffers": "256MB",
    "work_mem": "32MB",
    "maintenance_work_mem": "256MB",
    # the rewritten SPARQL is large SQL: JIT compilation would cost seconds for millisecond queries
    "jit": "off",
    # a backend whose client is gone (a killed load, a SPARQL client that hung up) stops within seconds, also while
    # it waits for a lock, instead of when it next writes to the socket
    "client_connection_check_interval": "2s",
}


def _is_root() -> bool:
    return os.geteuid() == 0


def find_bindir(configured: Path | None = None) -> Path:
    """The folder of ``initdb`` and ``pg_ctl``.

    Raises:
        DatabaseError: No PostgreSQL server binaries are installed.
    """
    candidates: list[Path] = []
    if configured:
        candidates.append(configured)
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=False)
        if out.returncode == 0:
            candidates.append(Path(out.stdout.strip()))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for folder in candidates:
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    raise DatabaseError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: install postgresql-15 and postgresql-15-postgis-3 "
        "(make install does), set ESDL_PG_BINDIR, or point ESDL_DATABASE_URL at an existing PostGIS"
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_private_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` to ``path`` (its folder made if missing) readable by this user only (mode 0600), replacing
    it atomically: a state file that holds a password."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=1)
    os.replace(tmp, path)


def _port_busy(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class ClusterState:
    """What ``postgres.json`` records."""

    data_dir: str
    port: int
    password: str
    role: str = ROLE
    database: str = DATABASE
    reader_password: str | None = None  # of the login role that can only read (the SPARQL endpoint's)

    def url(self, database: str | None = None) -> str:
        """The SQLAlchemy URL of ``database`` (default: the project database)."""
        return f"postgresql+psycopg://{self.role}:{self.password}@127.0.0.1:{self.port}/{database or self.database}"


class LocalCluster:
    """The project-local cluster under ``home``.

    Args:
        home: The project state folder (``ESDL_HOME``).
        bindir: Folder of the server binaries (found with :func:`find_bindir` when ``None``).
        settings: Extra server settings (``-c name=value``) for every start, e.g. ``{"fsync": "off"}`` in tests.
    """

    def __init__(self, home: Path, bindir: Path | None = None, settings: dict[str, str] | None = None) -> None:
        self.home = Path(home).absolute()
        self._bindir = bindir
        self.settings = {**SERVER_SETTINGS, **(settings or {})}

    @property
    def state_file(self) -> Path:
        """``postgres.json``."""
        return self.home / "postgres.json"

    @property
    def bindir(self) -> Path:
        """The server binaries' folder."""
        if self._bindir is None:
            self._bindir = find_bindir()
        return self._bindir

    def state(self) -> ClusterState | None:
        """The recorded state, or ``None`` before the first ``up``."""
        if not self.state_file.exists():
            return None
        return ClusterState(**json.loads(self.state_file.read_text()))

    def reader_password(self) -> str:
        """The password of the read-only login role (``semantic.store.roles``): made at first use, kept in
        ``postgres.json``.

        Raises:
            DatabaseError: The cluster was never started (no ``postgres.json``).
        """
        state = self.state()
        if state is None:
            raise DatabaseError("the local PostGIS was never started: run `esdl db up`")
        if state.reader_password is None:
            state.reader_password = secrets.token_urlsafe(24)
            self._save(state)
        return state.reader_password

    def _save(self, state: ClusterState) -> None:
        write_private_json(self.state_file, asdict(state))

    # -- running server commands as the right user ------------------------------------------------------

    def _run(self, args: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = ["runuser", "-u", "postgres", "--", *args] if _is_root() else args
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if check and proc.returncode != 0:
            raise DatabaseError(
                f"{Path(args[0]).name} failed ({proc.returncode}): {(proc.stderr or proc.stdout).strip()}"
            )
        return proc

    def _give_to_server_user(self, path: Path) -> None:
        if _is_root():
            shutil.chown(path, "postgres", "postgres")

    def _data_parent(self) -> Path:
        """A folder the server user can write: under the project if it can reach it, else /var/lib/esdl."""
        local = self.home / "postgres"
        local.mkdir(parents=True, exist_ok=True)
        if not _is_root():
            return local
        self._give_to_server_user(local)
        if self._run(["test", "-w", str(local)], check=False).returncode == 0:
            return local
        digest = hashlib.sha256(str(self.home).encode()).hexdigest()[:12]
        fallback = Path("/var/lib/esdl") / digest
        fallback.mkdir(parents=True, exist_ok=True)
        os.chmod(fallback.parent, 0o755)
        self._give_to_server_user(fallback)
        return fallback

    # -- lifecycle ---------------------------------------------------------------------------------------

    def initialized(self) -> bool:
        """True once ``initdb`` has run."""
        state = self.state()
        return state is not None and (Path(state.data_dir) / "PG_VERSION").exists()

    def running(self) -> bool:
        """True if the server of this cluster is running."""
        state = self.state()
        if state is None or not (Path(state.data_dir) / "PG_VERSION").exists():
            return False
        return self._run([str(self.bindir / "pg_ctl"), "status", "-D", state.data_dir], check=False).returncode == 0

    def _initdb(self) -> ClusterState:
        parent = self._data_parent()
        data = parent / "data"
        if data.exists():
            shutil.rmtree(data)  # an interrupted initdb; nothing was recorded yet
        password = secrets.token_urlsafe(24)
        with tempfile.NamedTemporaryFile("w", dir=parent, delete=False) as fh:
            fh.write(password)
        pwfile = Path(fh.name)
        try:
            self._give_to_server_user(pwfile)
            self._run(
                [
                    str(self.bindir / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    ROLE,
                    f"--pwfile={pwfile}",
                    "--auth-local=scram-sha-256",
                    "--auth-host=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                ]
            )
        finally:
            pwfile.unlink(missing_ok=True)
        state = ClusterState(data_dir=str(data), port=free_port(), password=password)
        self._save(state)
        return state

    def up(self, timeout_s: float = 60) -> str:
        """Create the cluster if needed, start it if stopped, and make sure the project database has PostGIS.

        Returns:
            The SQLAlchemy URL of the project database.
        """
        state = self.state() if self.initialized() else self._initdb()
        assert state is not None
        if not self.running():
            if _port_busy(state.port):
                state.port = free_port()
                self._save(state)
            log = Path(state.data_dir).parent / "server.log"
            options = " ".join([f"-p {state.port}", *(f"-c {k}={v!r}" for k, v in self.settings.items())])
            self._run(
                [
                    str(self.bindir / "pg_ctl"),
                    "start",
                    "-w",
                    "-t",
                    str(int(timeout_s)),
                    "-D",
                    state.data_dir,
                    "-l",
                    str(log),
                    "-o",
                    options,
                ]
            )
        self._ensure_database(state, timeout_s)
        return state.url()

    def _ensure_database(self, state: ClusterState, timeout_s: float) -> None:
        import psycopg
        from psycopg import sql

        deadline = time.monotonic() + timeout_s
        dsn = state.url("postgres").replace("+psycopg", "")
        while True:
            try:
                conn = psycopg.connect(dsn, autocommit=True, connect_timeout=5)
                break
            except psycopg.OperationalError as err:
                if time.monotonic() > deadline:
                    raise DatabaseError(f"local PostGIS on port {state.port} does not answer: {err}") from err
                time.sleep(0.2)
        with conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (state.database,)).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(state.database)))
        with psycopg.connect(state.url().replace("+psycopg", ""), autocommit=True) as db:
            try:
                db.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            except psycopg.Error as err:
                raise DatabaseError(
                    f"PostGIS is not installed for this PostgreSQL ({err.__class__.__name__}: {err}); "
                    "install postgresql-15-postgis-3"
                ) from err

    def down(self) -> bool:
        """Stop the server; returns False if it was not running."""
        state = self.state()
        if state is None or not self.running():
            return False
        self._run([str(self.bindir / "pg_ctl"), "stop", "-w", "-m", "fast", "-D", state.data_dir])
        return True

    def status(self) -> dict[str, Any]:
        """A JSON-friendly status (never the password)."""
        state = self.state()
        if state is None:
            return {"initialized": False, "running": False}
        return {
            "initialized": self.initialized(),
            "running": self.running(),
            "data_dir": state.data_dir,
            "port": state.port,
            "database": state.database,
            "role": state.role,
        }

    def destroy(self) -> None:
        """Stop the server and remove the cluster and its state (tests)."""
        state = self.state()
        if state is not None:
            if self.running():
                self._run([str(self.bindir / "pg_ctl"), "stop", "-w", "-m", "immediate", "-D", state.data_dir])
            shutil.rmtree(Path(state.data_dir).parent, ignore_errors=True)
        self.state_file.unlink(missing_ok=True)
