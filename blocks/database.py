"""The ``esdl-database`` block: which PostGIS holds the catalogue."""

from __future__ import annotations

from prefect.blocks.core import Block
from pydantic import Field, SecretStr

from semantic.store.settings import DatabaseSettings


class DatabaseBlock(Block):
    """The catalogue database: an external PostGIS by URL, or (empty URL) the project-local cluster."""

    _block_type_name = "esdl database"
    _block_type_slug = "esdl-database"
    _description = "PostGIS database of the esdl catalogue (cubes, regions, zonal statistics, features)."

    url: SecretStr | None = Field(
        default=None, description="postgresql://user:password@host:5432/db; empty: the project-local PostGIS"
    )
    statement_timeout_s: float = Field(default=0, ge=0, description="Statement timeout of loads in seconds (0: none)")

    def settings(self) -> DatabaseSettings:
        """The :class:`~semantic.store.settings.DatabaseSettings` this block describes."""
        return DatabaseSettings(database_url=self.url, statement_timeout_s=self.statement_timeout_s)
