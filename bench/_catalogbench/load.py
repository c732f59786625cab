"""The catalogue side: a throwaway PostGIS (or ``ESDL_DATABASE_URL``), registration, and the timed COPY load.

The load is timed as the ``load-catalog`` flow does it, with the library functions rather than the Prefect flow:
one transaction (``engine.begin()``) in which :func:`semantic.store.load.replace_zonal_stats` deletes the
variable's rows for the regions and COPYs the new ones (binary format) for every variable; the commit is inside
the timing.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa


class Catalog:
    """A catalogue database for the benchmark, as a context manager.

    Without ``ESDL_DATABASE_URL``: a throwaway :class:`~semantic.store.local.LocalCluster` under ``home``
    (the project's default server settings, ``fsync`` on), migrated with :func:`~semantic.store.db.upgrade`,
    destroyed on exit, also after an error. With it: that database, which must already be at the schema head;
    the benchmark's cube and region set are removed from it on exit.
    """

    def __init__(self, home: Path, log: Any) -> None:
        self.home = home
        self.log = log
        self.url = os.environ.get("ESDL_DATABASE_URL")
        self.cluster: Any = None
        self.engine: sa.Engine | None = None
        self.cube_name: str | None = None
        self.region_source: str | None = None

    @property
    def kind(self) -> str:
        """``throwaway LocalCluster`` or ``ESDL_DATABASE_URL``."""
        return "ESDL_DATABASE_URL" if self.url else "throwaway LocalCluster"

    def __enter__(self) -> Catalog:
        from semantic.store.db import check_schema, make_engine, upgrade
        from semantic.store.local import LocalCluster

        try:
            if self.url:
                self.engine = make_engine(self.url)
                check_schema(self.engine)
            else:
                self.cluster = LocalCluster(self.home)
                t0 = time.perf_counter()
                url = self.cluster.up()
                self.engine = make_engine(url)
                upgrade(self.engine)
                self.log(f"throwaway PostGIS up and migrated in {time.perf_counter() - t0:.1f} s")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            if self.engine is not None and self.url:
                self._remove_own_rows()
        finally:
            if self.engine is not None:
                self.engine.dispose()
            if self.cluster is not None:
                self.cluster.destroy()
                self.log("throwaway PostGIS destroyed")

    def _remove_own_rows(self) -> None:
        assert self.engine is not None
        with self.engine.begin() as conn:
            if self.cube_name:  # variables and their statistics cascade
                conn.execute(sa.text("DELETE FROM cube WHERE name = :n"), {"n": self.cube_name})
            if self.region_source:
                conn.execute(sa.text("DELETE FROM region WHERE source = :s"), {"s": self.region_source})

    def register(self, cube_path: Path, regions: Any) -> tuple[Any, dict[str, int], np.ndarray]:
        """Describe and register the cube and import the region set, in one transaction.

        Returns:
            The cube record, the variables' ids by name, and the regions' ids in the set's order.
        """
        from semantic.store.catalog import describe_cube, register_cube
        from semantic.store.regions import import_regions, region_set

        assert self.engine is not None
        record, _ = describe_cube(cube_path)
        self.cube_name, self.region_source = record.name, regions.source
        with self.engine.begin() as conn:
            import_regions(conn, regions)
            _, variable_ids = register_cube(conn, record)
            ids = {name: rid for rid, name, _ in region_set(conn, regions.source)}
        return record, variable_ids, np.array([ids[n] for n in regions.names()], dtype=np.int64)

    def clear(self, variable_ids: dict[str, int]) -> None:
        """Remove the benchmark's statistics and vacuum the table, so that the next load starts empty."""
        assert self.engine is not None
        with self.engine.begin() as conn:
            conn.execute(
                sa.text("DELETE FROM zonal_stat WHERE variable_id = ANY(:ids)"), {"ids": list(variable_ids.values())}
            )
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM (ANALYZE) zonal_stat"))

    def load(
        self,
        variable_ids: dict[str, int],
        region_ids: np.ndarray,
        times: np.ndarray,
        stats: dict[str, Any],
        without_fk_checks: bool = False,
    ) -> tuple[int, float, float]:
        """Replace every variable's statistics in one transaction.

        Args:
            without_fk_checks: Diagnostic only: ``SET LOCAL session_replication_role = replica`` first, which
                skips the foreign-key triggers (needs a superuser, as the throwaway cluster's role is).

        Returns:
            The rows, the seconds (commit included), and the seconds of those spent encoding the binary COPY
            payload in Python (measured by wrapping :func:`semantic.store.copy.encode_rows`).
        """
        from semantic.store import copy as copy_module
        from semantic.store.load import replace_zonal_stats

        assert self.engine is not None
        encode = copy_module.encode_rows
        encode_s = 0.0

        def timed_encode(columns: list[Any]) -> bytes:
            nonlocal encode_s
            t = time.perf_counter()
            try:
                return encode(columns)
            finally:
                encode_s += time.perf_counter() - t

        rows = 0
        copy_module.encode_rows = timed_encode
        try:
            t0 = time.perf_counter()
            with self.engine.begin() as conn:
                if without_fk_checks:
                    conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
                for name, st in stats.items():
                    rows += replace_zonal_stats(conn, variable_ids[name], region_ids, times, st.__dict__)
            seconds = time.perf_counter() - t0
        finally:
            copy_module.encode_rows = encode
        return rows, seconds, encode_s

    def delete_seconds(self, variable_ids: dict[str, int], region_ids: np.ndarray) -> float:
        """Seconds of the DELETE a reload starts with (the same statements, rolled back)."""
        assert self.engine is not None
        with self.engine.connect() as conn:
            t0 = time.perf_counter()
            for vid in variable_ids.values():
                conn.execute(
                    sa.text("DELETE FROM zonal_stat WHERE variable_id = :v AND region_id = ANY(:ids)"),
                    {"v": vid, "ids": region_ids.tolist()},
                )
            seconds = time.perf_counter() - t0
            conn.rollback()
        return seconds

    def count(self, variable_ids: dict[str, int]) -> int:
        """Rows of the benchmark's variables in ``zonal_stat``."""
        assert self.engine is not None
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    sa.text("SELECT count(*) FROM zonal_stat WHERE variable_id = ANY(:ids)"),
                    {"ids": list(variable_ids.values())},
                ).scalar_one()
            )
