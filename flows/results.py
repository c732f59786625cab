"""The flows' results: typed, JSON-serialisable, and the one shape the CLI, the artifacts and callers read."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class VariableSummary(BaseModel):
    """Summary statistics of one variable of a built cube (``None`` where it has no valid value)."""

    name: str
    units: str
    valid_fraction: float
    min: float | None
    max: float | None
    mean: float | None
    std: float | None
    best_time_index: int


class CatalogLoadResult(BaseModel):
    """What a ``load-catalog`` run wrote."""

    cube_id: int = Field(description="Id of the cube's row in the catalogue")
    zonal_stats: int = Field(description="Zonal statistics rows written")
    features: int = Field(description="Feature rows written")
    regions_imported: list[dict[str, Any]] = Field(description="Region sets imported from files, with counts")
    load_seconds: float = Field(description="Time of the load transaction")
    rows_per_s: float = Field(description="Rows written per second by the load transaction")
    scheduler: str | None = Field(description="Address of the Dask scheduler that ran the array work, if any")


class BuildResult(BaseModel):
    """What a ``build-cube`` run published."""

    path: str = Field(description="The published cube's versioned folder")
    output: str = Field(description="The output location (a link to ``path``)")
    regions: int = Field(description="Regions of the cube")
    written: int = Field(description="Regions written in this run (0: the cube was up to date)")
    variables: list[str] = Field(description="Variables of the cube")
    stats: list[VariableSummary] = Field(description="Per-variable statistics (empty when nothing was built)")
    scheduler: str | None = Field(description="Address of the Dask scheduler that ran the array work, if any")
    catalog: CatalogLoadResult | None = Field(default=None, description="The catalogue load, when one was asked")
