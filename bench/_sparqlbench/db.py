"""The benchmark's database: a throwaway PostGIS (``LocalCluster``) or ``ESDL_DATABASE_URL``, and a scratch
database beside it for the W3C suite (whose runner empties ``rdf_quad`` for every case)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

W3C_DATABASE = "esdl_sparqlbench_w3c"


class BenchDatabase:
    """A catalogue database for the benchmark, as a context manager.

    Without ``ESDL_DATABASE_URL``: a throwaway :class:`~semantic.store.local.LocalCluster` under ``home`` (the
    project's default server settings), migrated with :func:`~semantic.store.db.upgrade`, destroyed on exit,
    also after an error. With it: that database, which must be at the schema head and hold no catalogue rows
    (:func:`_sparqlbench.data.check_empty`); the benchmark's cube and region set are removed from it on exit.

    Every connection of :attr:`engine` has ``statement_timeout`` set, and ``jit`` when ``jit`` is not ``None``
    (both sides of the comparison use the engine).
    """

    def __init__(
        self, home: Path, statement_timeout_s: float, log: Callable[[str], None], jit: bool | None = None
    ) -> None:
        self.home = home
        self.timeout_s = statement_timeout_s
        self.jit = jit
        self.log = log
        self.external = os.environ.get("ESDL_DATABASE_URL")
        self.cluster: Any = None
        self.url = ""
        self.engine: sa.Engine | None = None

    @property
    def kind(self) -> str:
        """``throwaway LocalCluster`` or ``ESDL_DATABASE_URL``."""
        return "ESDL_DATABASE_URL" if self.external else "throwaway LocalCluster"

    def __enter__(self) -> BenchDatabase:
        from _sparqlbench.data import check_empty
        from semantic.store.db import check_schema, normalize_url, upgrade
        from semantic.store.local import LocalCluster

        try:
            if self.external:
                self.url = normalize_url(self.external)
                self.engine = self._engine(self.url)
                check_schema(self.engine)
                check_empty(self.engine)
            else:
                self.cluster = LocalCluster(self.home)
                t0 = time.perf_counter()
                self.url = self.cluster.up()
                self.engine = self._engine(self.url)
                upgrade(self.engine)
                self.log(f"throwaway PostGIS up and migrated in {time.perf_counter() - t0:.1f} s")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _engine(self, url: str) -> sa.Engine:
        """Like :func:`semantic.store.db.make_engine`, with the benchmark's session settings."""
        options = f"-c statement_timeout={int(self.timeout_s * 1000)}"
        if self.jit is not None:
            options += f" -c jit={'on' if self.jit else 'off'}"
        return sa.create_engine(url, pool_pre_ping=True, connect_args={"options": options})

    def __exit__(self, *exc: Any) -> None:
        from _sparqlbench.data import remove_own_rows

        try:
            if self.engine is not None and self.external:
                remove_own_rows(self.engine)
        finally:
            if self.engine is not None:
                self.engine.dispose()
            if self.cluster is not None:
                self.cluster.destroy()
                self.log("throwaway PostGIS destroyed")

    @contextmanager
    def scratch(self) -> Iterator[sa.Engine]:
        """A new database on the same server, with PostGIS and the schema; dropped afterwards.

        Raises:
            sqlalchemy.exc.DBAPIError: The role may not create databases (``ESDL_DATABASE_URL``).
        """
        from semantic.store.db import make_engine, upgrade

        admin = make_engine(self.url).execution_options(isolation_level="AUTOCOMMIT")
        url = sa.engine.make_url(self.url).set(database=W3C_DATABASE).render_as_string(hide_password=False)
        engine: sa.Engine | None = None
        try:
            with admin.connect() as conn:
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {W3C_DATABASE}"))
                conn.execute(sa.text(f"CREATE DATABASE {W3C_DATABASE}"))
            engine = make_engine(url, statement_timeout_s=self.timeout_s)
            with engine.begin() as conn:
                conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS postgis"))
            upgrade(engine)
            yield engine
        finally:
            if engine is not None:
                engine.dispose()
            try:
                with admin.connect() as conn:
                    conn.execute(sa.text(f"DROP DATABASE IF EXISTS {W3C_DATABASE}"))
            finally:
                admin.dispose()
