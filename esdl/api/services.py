"""What the HTTP service's routers share, set up by the app's lifespan (:class:`Services`)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request

from esdl.api.admission import Admission
from esdl.api.database import ReadOnlyRunner, open_reader, session_role
from esdl.api.settings import SparqlSettings

LOG = logging.getLogger("esdl.api")


class Services:
    """The catalogue's engine and read-only runner, the SPARQL engine and its admission, the hooks' and the
    processes' clients: built empty with the app, started by its lifespan (:meth:`start`), closed at its end.

    A router built by a factory holds this object and reads what it needs at request time.
    """

    def __init__(self, settings: SparqlSettings, engine: Any, hooks: Any, processes: Any, auth: Any = None) -> None:
        self.settings = settings
        self._engine = engine
        self.hooks_config = hooks
        self.processes_settings = processes
        self._auth = auth
        self._own_auth = False
        self._keys: Any = None  # the owner's engine opened here for the API keys, disposed at the end
        self._guards: dict[str, Callable[[Request], Awaitable[Any]]] = {}
        self._sparql: Any = None
        self._runner: ReadOnlyRunner | None = None
        self._admission: Admission | None = None
        self.hooks: Any = None  # (no I/O until a delivery: built with the app)
        if hooks is not None:
            from esdl.api.hooks import HookService

            self.hooks = HookService(hooks)
        self.processes: Any = None

    def start(self) -> None:
        """Open the catalogue (as the read-only role), check the role, load the mappings, start the translators
        and the clients.

        Raises:
            DatabaseError: The catalogue cannot be opened, or the read-only role cannot be used.
            MappingError: The shipped mappings do not fit the database.
        """
        from semantic.sparql.engine import SparqlEngine

        settings = self.settings
        # one pooled connection per query slot, express ones included (and one for the signature's refresh)
        pool_size = settings.max_concurrent + settings.express_slots + 1
        engine = self._engine if self._engine is not None else open_reader(settings, pool_size=pool_size)
        role = session_role(engine, settings.read_role)
        sparql = SparqlEngine(
            engine,
            cache_size=settings.cache_size,
            cache_mb=settings.cache_mb,
            max_sql_bytes=settings.max_sql_bytes,
            translate_timeout_s=settings.translate_timeout_s,
            translate_processes=settings.translate_processes,
            translate_wait_s=settings.queue_timeout_s,
        )
        self._sparql = sparql
        self._runner = ReadOnlyRunner(sparql, settings.timeout_s, settings.max_rows, role)
        self._admission = Admission(settings, sparql)
        if self._auth is None:
            from esdl.api.auth import Authenticator, AuthSettings

            self._auth = Authenticator(AuthSettings(), self._keys_engine())
            self._own_auth = True
        self._guards = {p: self._auth.require(p) for p in ("read", "run", "admin")}
        if self.processes_settings is not None:
            from esdl.api.processes.service import ProcessService

            self.processes = ProcessService(self.processes_settings)

    def _keys_engine(self) -> Any:
        """The engine the API keys are checked on: the catalogue owner's (the read-only role cannot read them).
        The engine the app was given (tests); else the catalogue's (ESDL_DATABASE_URL, or the local cluster); none
        where the service only has the read-only role's URL (ESDL_SPARQL_DATABASE_URL): then no API key is
        accepted (OIDC tokens still are)."""
        from semantic.store.db import DatabaseSettings, open_catalog

        if self._engine is not None:
            return self._engine
        if self.settings.database_url is not None and DatabaseSettings().database_url is None:
            LOG.warning("no ESDL_DATABASE_URL: API keys cannot be checked, only OIDC tokens are accepted")
            return None
        self._keys = open_catalog(pool_size=2)
        return self._keys

    async def close(self) -> None:
        """Stop the translator processes and close the clients."""
        if self._own_auth and self._auth is not None:
            self._auth.close()
        if self._keys is not None:
            self._keys.dispose()
        if self._sparql is not None:
            self._sparql.close()
        if self.hooks is not None:
            await self.hooks.close()
        if self.processes is not None:
            await self.processes.close()

    def permit(self, permission: str) -> Callable[[Request], Awaitable[Any]]:
        """A route's dependency: the caller's principal when they hold ``permission`` (``read``, ``run``,
        ``admin``); else 401 or 403 (:mod:`esdl.api.auth`)."""

        async def check(request: Request) -> Any:
            guard = self._guards.get(permission)
            if guard is None:
                raise RuntimeError("the service is not started (its lifespan has not run)")
            return await guard(request)

        return check

    @property
    def sparql(self) -> Any:
        """The SPARQL engine (:class:`semantic.sparql.engine.SparqlEngine`)."""
        if self._sparql is None:
            raise RuntimeError("the service is not started (its lifespan has not run)")
        return self._sparql

    @property
    def runner(self) -> ReadOnlyRunner:
        """Read-only transactions on the catalogue."""
        if self._runner is None:
            raise RuntimeError("the service is not started (its lifespan has not run)")
        return self._runner

    @property
    def admission(self) -> Admission:
        """The query slots."""
        if self._admission is None:
            raise RuntimeError("the service is not started (its lifespan has not run)")
        return self._admission


__all__ = ["Services"]
