"""The benchmark's database: a throwaway PostGIS (``LocalCluster``) or ``ESDL_DATABASE_URL``, the quads the heavy
queries chew on, and the watch for database restarts.

A restart shows in three ways, all checked:

* ``pg_postmaster_start_time()`` changes: the postmaster itself was restarted;
* the checkpointer's process id changes: after a backend dies of a signal (the kernel's OOM killer, a segfault),
  the postmaster kills every other backend and *reinitialises* (crash recovery) without changing
  ``pg_postmaster_start_time()``; its auxiliary processes, the checkpointer among them, get new ids. The watch
  reads the id every second (``pg_stat_activity`` shows ``pid`` and ``backend_type`` to any role);
* the server log (the throwaway cluster's only) says ``terminated by signal`` or ``reinitializing``.
"""

from __future__ import annotations

import os
import random
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

SOURCE = "esdl-hostile-bench"  # rdf_quad.source of the benchmark's quads (removed from ESDL_DATABASE_URL on exit)
EX = "http://example.org/hostile/"
XSD = "http://www.w3.org/2001/XMLSchema#"
CHECKPOINTER = "SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'"
RESTART_MARKS = ("terminated by signal", "all server processes terminated; reinitializing", "was terminated by")


def esdl_cli(argv: list[str], env: dict[str, str], cwd: Path) -> str:
    """Run the ``esdl`` command beside this interpreter; its output.

    Raises:
        RuntimeError: It failed (its output in the message).
    """
    cwd.mkdir(parents=True, exist_ok=True)
    command = [str(Path(sys.executable).parent / "esdl"), *argv]
    full_env = {**os.environ, "ESDL_HOME": str(cwd / "esdl-home"), **env}
    out = subprocess.run(command, cwd=cwd, env=full_env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"esdl {' '.join(argv)} failed ({out.returncode}): {(out.stderr or out.stdout).strip()}")
    return out.stdout


class Database:
    """The database, as a context manager: up (and migrated) on enter, destroyed (or cleaned) on exit."""

    def __init__(self, home: Path, log: Callable[[str], None]) -> None:
        self.home = home
        self.log = log
        self.external = os.environ.get("ESDL_DATABASE_URL")
        self.cluster: Any = None
        self.url = ""
        self.engine: sa.Engine | None = None
        self.server_env: dict[str, str] = {}  # what esdl serve needs besides ESDL_DATABASE_URL (the reader's password)

    @property
    def kind(self) -> str:
        """``throwaway LocalCluster`` or ``ESDL_DATABASE_URL``."""
        return "ESDL_DATABASE_URL" if self.external else "throwaway LocalCluster"

    @property
    def server_log(self) -> Path | None:
        """The PostgreSQL server log (the throwaway cluster only)."""
        state = self.cluster.state() if self.cluster is not None else None
        return Path(state.data_dir).parent / "server.log" if state is not None else None

    @property
    def postmaster_pid(self) -> int | None:
        """The postmaster's process id (the throwaway cluster only)."""
        state = self.cluster.state() if self.cluster is not None else None
        if state is None:
            return None
        try:
            return int((Path(state.data_dir) / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def __enter__(self) -> Database:
        from semantic.store.db import check_schema, normalize_url
        from semantic.store.local import LocalCluster

        try:
            if self.external:
                if not ({"ESDL_SPARQL_READ_PASSWORD", "ESDL_SPARQL_DATABASE_URL"} & os.environ.keys()):
                    raise RuntimeError(
                        "ESDL_DATABASE_URL is set: the endpoint logs in as the read-only role; set "
                        "ESDL_SPARQL_READ_PASSWORD (as `esdl db upgrade` was run with) or ESDL_SPARQL_DATABASE_URL"
                    )
                self.url = normalize_url(self.external)
                self.engine = sa.create_engine(self.url, pool_pre_ping=True)
                check_schema(self.engine)
                with self.engine.connect() as conn:
                    if conn.execute(sa.text("SELECT EXISTS (SELECT 1 FROM rdf_quad)")).scalar():
                        self.log("WARNING: ESDL_DATABASE_URL's rdf_quad is not empty: the heavy queries see it too")
            else:
                self.cluster = LocalCluster(self.home)
                t0 = time.perf_counter()
                self.url = self.cluster.up()
                self.reader_password = secrets.token_urlsafe(24)
                self.server_env = {"ESDL_SPARQL_READ_PASSWORD": self.reader_password}
                esdl_cli(["db", "upgrade"], {"ESDL_DATABASE_URL": self.url, **self.server_env}, self.home)
                self.engine = sa.create_engine(self.url, pool_pre_ping=True)
                check_schema(self.engine)
                self.log(f"throwaway PostGIS up, `esdl db upgrade` run, in {time.perf_counter() - t0:.1f} s")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            if self.engine is not None and self.external:
                with self.engine.begin() as conn:
                    conn.execute(sa.text("DELETE FROM rdf_quad WHERE source = :s"), {"s": SOURCE})
        finally:
            if self.engine is not None:
                self.engine.dispose()
            if self.cluster is not None:
                self.cluster.destroy()
                self.log("throwaway PostGIS destroyed")

    def start_marks(self) -> dict[str, Any]:
        """What a restart would change: the postmaster's start time, the checkpointer's id, the log's length."""
        assert self.engine is not None
        with self.engine.connect() as conn:
            started = conn.execute(sa.text("SELECT pg_postmaster_start_time()")).scalar()
            checkpointer = conn.execute(sa.text(CHECKPOINTER)).scalar()
        log = self.server_log
        return {
            "postmaster_start": started,
            "checkpointer_pid": checkpointer,
            "log_offset": log.stat().st_size if log is not None and log.exists() else None,
        }

    def restart_lines(self, offset: int | None) -> list[str]:
        """Lines of the server log after ``offset`` that tell of a crash or a restart."""
        log = self.server_log
        if offset is None or log is None or not log.exists():
            return []
        with log.open("rb") as fh:
            fh.seek(offset)
            text = fh.read().decode("utf-8", "replace")
        return [ln for ln in text.splitlines() if any(mark in ln for mark in RESTART_MARKS)]


def write_quads(engine: sa.Engine, path: Path, quads: int, seed: int = 0) -> dict[str, Any]:
    """Write ``quads`` triples as N-Triples to ``path`` and load them with :func:`semantic.rdf.load.load_rdf`.

    Subjects ``ex:s0 …`` with eight triples each, predicates ``ex:p0 … ex:p7``; objects in turn an
    ``xsd:integer``, a plain string, an IRI, an ``xsd:dateTime`` and an ``xsd:double``, so that every term kind
    and typed-value column has rows. Followed by ``VACUUM ANALYZE rdf_quad``.
    """
    from semantic.rdf.load import load_rdf

    rnd = random.Random(seed)
    lines = []
    for i in range(quads):
        s, p = f"<{EX}s{i // 8}>", f"<{EX}p{i % 8}>"
        kind = i % 5
        if kind == 0:
            o = f'"{rnd.randrange(100_000)}"^^<{XSD}integer>'
        elif kind == 1:
            o = f'"label {i} {rnd.choice(["alpha", "beta", "gamma", "delta"])}"'
        elif kind == 2:
            o = f"<{EX}s{rnd.randrange(max(1, quads // 8))}>"
        elif kind == 3:
            o = f'"20{rnd.randrange(10, 30)}-0{rnd.randrange(1, 10)}-1{rnd.randrange(0, 9)}T12:00:00Z"^^<{XSD}dateTime>'
        else:
            o = f'"{rnd.random() * 1000:.6f}"^^<{XSD}double>'
        lines.append(f"{s} {p} {o} .\n")
    path.write_text("".join(lines), encoding="utf-8")
    t0 = time.perf_counter()
    with engine.begin() as conn:
        result = load_rdf(conn, path, source=SOURCE)
    load_s = time.perf_counter() - t0
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE rdf_quad"))
        total = conn.execute(sa.text("SELECT count(*) FROM rdf_quad")).scalar_one()
    return {"inserted": result.inserted, "rdf_quad_rows": total, "load_s": round(load_s, 1)}


class RestartWatch:
    """Reads the checkpointer's process id every ``interval_s`` on a connection of its own, in a thread; counts
    changes of it and the seconds the database did not answer."""

    def __init__(self, url: str, interval_s: float = 1.0) -> None:
        self.dsn = sa.engine.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self.interval_s = interval_s
        self.pids: list[int] = []
        self.changes = 0
        self.failures: list[str] = []  # "HH:MM:SS error" of each failed reading
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="restart-watch", daemon=True)

    def start(self) -> RestartWatch:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _loop(self) -> None:
        import psycopg

        conn: Any = None
        while not self._stop.is_set():
            try:
                if conn is None:
                    conn = psycopg.connect(self.dsn, autocommit=True, connect_timeout=5)
                row = conn.execute(CHECKPOINTER).fetchone()
                pid = row[0] if row else None
                if pid is not None:
                    if self.pids and pid != self.pids[-1]:
                        self.changes += 1
                    if not self.pids or pid != self.pids[-1]:
                        self.pids.append(pid)
            except Exception as err:  # the database went away: note it, and connect again
                self.failures.append(f"{time.strftime('%H:%M:%S')} {type(err).__name__}: {str(err).strip()[:200]}")
                try:
                    if conn is not None:
                        conn.close()
                except Exception:
                    pass
                conn = None
            self._stop.wait(self.interval_s)
        if conn is not None:
            conn.close()
