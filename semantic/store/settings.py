"""Where the catalogue lives: ``ESDL_DATABASE_URL``, or the project-local PostGIS cluster under ``ESDL_HOME``."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class DatabaseSettings(BaseSettings):
    """Database settings. Environment variables: ``ESDL_DATABASE_URL``, ``ESDL_HOME``, ``ESDL_PG_BINDIR``.

    Without ``database_url``, the project-local cluster (``esdl db up``) is used, started on demand.
    """

    model_config = SettingsConfigDict(env_prefix="ESDL_", env_file=".env", extra="ignore")

    database_url: SecretStr | None = Field(
        default=None,
        description="SQLAlchemy or libpq URL of an external PostGIS database "
        "(postgresql://user:password@host:5432/db); unset: the project-local cluster",
    )
    home: Path = Field(default=Path(".esdl"), description="project state folder holding the local cluster")
    pg_bindir: Path | None = Field(
        default=None, description="folder of initdb/pg_ctl (default: `pg_config --bindir`, then Debian's path)"
    )
    statement_timeout_s: float = Field(default=0, ge=0, description="statement timeout of loads (0: none)")
