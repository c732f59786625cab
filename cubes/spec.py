"""The cube specification: what a scientist writes in YAML to describe a cube.

A spec names the target grid, the time axis, the sources, the variables taken from them, the chunking and the
output location. :func:`load_spec` validates it completely before anything runs; an invalid spec raises
:class:`~cubes.errors.SpecError` whose message names the offending field by its path (``variables.1.units``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import pyproj
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cubes.errors import SpecError

Aggregation = Literal["mean", "sum", "min", "max", "count"]
PERIOD_RE = re.compile(r"^(?P<n>[1-9][0-9]*)(?P<unit>[DMY])$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GridSpec(_Model):
    """Target grid: CRS, bounding box and resolution; coordinates are cell centres.

    Attributes:
        crs: EPSG code (``EPSG:4326`` or ``4326``) or WKT. Default ``EPSG:4326``.
        bbox: ``[xmin, ymin, xmax, ymax]`` of the cell edges, in CRS units.
        resolution: Cell size, one number or ``[x, y]``; the bbox extent must be a whole multiple of it.
    """

    crs: str = Field(default="EPSG:4326", description="EPSG code or WKT of the target CRS")
    bbox: tuple[float, float, float, float] = Field(description="xmin, ymin, xmax, ymax of cell edges")
    resolution: float | tuple[float, float] = Field(description="cell size (x, y) in CRS units")

    @field_validator("crs", mode="before")
    @classmethod
    def _normalise_crs(cls, value: Any) -> str:
        text = str(value).strip()
        if text.isdigit():
            text = f"EPSG:{text}"
        try:
            pyproj.CRS.from_user_input(text)
        except pyproj.exceptions.CRSError as err:
            raise ValueError(f"unknown CRS {text!r}: {err}") from None
        return text

    @field_validator("resolution")
    @classmethod
    def _positive_resolution(cls, value: float | tuple[float, float]) -> float | tuple[float, float]:
        values = value if isinstance(value, tuple) else (value,)
        if any(v <= 0 for v in values):
            raise ValueError("resolution must be positive")
        return value

    @model_validator(mode="after")
    def _check_extent(self) -> GridSpec:
        xmin, ymin, xmax, ymax = self.bbox
        if xmax <= xmin or ymax <= ymin:
            raise ValueError("bbox must be [xmin, ymin, xmax, ymax] with xmin < xmax and ymin < ymax")
        for extent, res, axis in ((xmax - xmin, self.res[0], "x"), (ymax - ymin, self.res[1], "y")):
            n = extent / res
            if abs(n - round(n)) > 1e-6 * max(1.0, n):
                raise ValueError(f"bbox {axis} extent {extent} is not a whole multiple of resolution {res}")
        return self

    @property
    def res(self) -> tuple[float, float]:
        """Resolution as ``(x, y)``."""
        r = self.resolution
        return (r, r) if isinstance(r, float | int) else (float(r[0]), float(r[1]))

    @property
    def shape(self) -> tuple[int, int]:
        """Grid size as ``(ny, nx)``."""
        xmin, ymin, xmax, ymax = self.bbox
        return round((ymax - ymin) / self.res[1]), round((xmax - xmin) / self.res[0])

    @property
    def pyproj_crs(self) -> pyproj.CRS:
        """The CRS as a :class:`pyproj.CRS`."""
        return pyproj.CRS.from_user_input(self.crs)

    @property
    def is_geographic(self) -> bool:
        """True for a geographic (lon/lat) CRS; its dimensions are then named ``lat``/``lon``."""
        return bool(self.pyproj_crs.is_geographic)


class TimeSpec(_Model):
    """Target time axis: consecutive half-open bins ``[start_i, start_i + period)``.

    Attributes:
        start: First day of the first bin.
        end: Last day covered (inclusive); the last bin is the one that contains it.
        period: ``ND``, ``NM`` or ``NY`` (days, months, years), for example ``1D``, ``8D``, ``1M``.
        restart_yearly: ESDC-style bins: they restart every 1 January, so the last bin of a year is shorter.
            Only for day periods.
    """

    start: dt.date
    end: dt.date
    period: str = Field(default="1D", description="bin length: ND, NM or NY")
    restart_yearly: bool = Field(default=False, description="ESDC 8-day style: bins restart every 1 January")

    @field_validator("period")
    @classmethod
    def _check_period(cls, value: str) -> str:
        if not PERIOD_RE.match(value):
            raise ValueError(f"period {value!r} is not of the form ND, NM or NY (for example 8D, 1M, 1Y)")
        return value

    @model_validator(mode="after")
    def _check_order(self) -> TimeSpec:
        if self.end < self.start:
            raise ValueError("end must not be before start")
        if self.restart_yearly and not self.period.endswith("D"):
            raise ValueError("restart_yearly applies only to day periods such as 8D")
        return self


class SourceSpec(_Model):
    """One input: a file, a Zarr store, a STAC catalog or a synthetic generator.

    Attributes:
        kind: ``netcdf``, ``zarr``, ``geotiff``, ``stac`` or ``synthetic``; inferred from ``path`` if omitted.
        path: Local path, ``pkg://package/relative/path`` for data shipped in a package, or an fsspec URL
            (``file://``, ``http(s)://``, ``s3://``). Glob patterns concatenate files along time.
        options: Kind-specific options (see each source's documentation).
        storage_options: Passed to fsspec.
    """

    kind: str | None = None
    path: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    storage_options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_path(self) -> SourceSpec:
        if self.kind != "synthetic" and not self.path:
            raise ValueError("path is required unless kind is 'synthetic'")
        return self


class VariableSpec(_Model):
    """One cube variable, taken from one source variable.

    Attributes:
        name: Variable name in the cube.
        source: Key of the source in ``sources``.
        source_variable: Variable name in the source; defaults to ``name``.
        units: Units in the cube; defaults to the source's ``units`` attribute. ``K`` and ``degC`` convert.
        spatial_aggregation: How source cells combine into a target cell (mean, sum, min, max, count).
        temporal_aggregation: How source time steps combine into a bin (mean, sum, min, max, count).
        count_valid: Also write ``<name>_count``, the number of valid source time steps in each bin.
        attrs: Extra CF attributes (``standard_name``, ``long_name``...).
    """

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    source: str
    source_variable: str | None = None
    units: str | None = None
    spatial_aggregation: Aggregation = "mean"
    temporal_aggregation: Aggregation = "mean"
    count_valid: bool = False
    attrs: dict[str, Any] = Field(default_factory=dict)

    @property
    def source_name(self) -> str:
        """The variable's name in its source."""
        return self.source_variable or self.name


class ChunkSpec(_Model):
    """Chunk (or shard) sizes along time, y and x."""

    time: int = Field(default=1, ge=1)
    y: int = Field(default=256, ge=1)
    x: int = Field(default=256, ge=1)


class CubeSpec(_Model):
    """A complete cube description. See the module documentation."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    version: str = "1.0"
    grid: GridSpec
    time: TimeSpec
    sources: dict[str, SourceSpec]
    variables: list[VariableSpec] = Field(min_length=1)
    chunks: ChunkSpec = Field(default_factory=ChunkSpec)
    shards: ChunkSpec | None = None
    output: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict, description="ACDD global attributes")

    @model_validator(mode="after")
    def _check_references(self) -> CubeSpec:
        names: set[str] = set()
        for i, var in enumerate(self.variables):
            if var.source not in self.sources:
                known = ", ".join(sorted(self.sources)) or "none"
                raise ValueError(f"variables.{i}.source: unknown source {var.source!r} (known: {known})")
            for produced in (var.name, f"{var.name}_count" if var.count_valid else None):
                if produced and produced in names:
                    raise ValueError(f"variables.{i}.name: duplicate variable {produced!r}")
                if produced:
                    names.add(produced)
        if self.shards is not None:
            for axis in ("time", "y", "x"):
                if getattr(self.shards, axis) % getattr(self.chunks, axis):
                    raise ValueError(f"shards.{axis} must be a multiple of chunks.{axis}")
        return self

    def with_output(self, output: str | None) -> CubeSpec:
        """A copy with another output location (``None`` keeps the current one)."""
        return self if output is None else self.model_copy(update={"output": output})

    def fingerprint(self) -> str:
        """A short hash of everything that determines the cube's content (the output location excluded)."""
        data = self.model_dump(mode="json", exclude={"output"})
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def _format_error(err: ValidationError) -> str:
    lines = []
    for item in err.errors():
        path = ".".join(str(p) for p in item["loc"])
        msg = item["msg"].removeprefix("Value error, ")
        lines.append(f"{path}: {msg}" if path else msg)
    return "; ".join(lines)


def parse_spec(data: Mapping[str, Any], *, origin: str = "spec") -> CubeSpec:
    """Validate a spec given as a mapping.

    Raises:
        SpecError: The spec is invalid; the message names each offending field by its path.
    """
    if not isinstance(data, Mapping):
        raise SpecError(f"{origin}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return CubeSpec.model_validate(dict(data))
    except ValidationError as err:
        raise SpecError(f"{origin}: invalid cube spec: {_format_error(err)}") from None


def load_spec(path: str | Path) -> CubeSpec:
    """Read and validate a YAML spec file.

    Relative source paths and a relative output are resolved against the spec file's folder.

    Raises:
        SpecError: The file cannot be read or parsed, or the spec is invalid.
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as err:
        raise SpecError(f"{path}: cannot read spec: {err.strerror or err}") from None
    except yaml.YAMLError as err:
        raise SpecError(f"{path}: not valid YAML: {err}") from None
    spec = parse_spec(data, origin=str(path))
    return resolve_relative(spec, path.resolve().parent)


def resolve_spec(spec: Mapping[str, Any] | str | Path | CubeSpec, output: str | None = None) -> CubeSpec:
    """A validated spec with an output location, from a spec, a mapping or a YAML file's path.

    Args:
        spec: The spec itself, its fields as a mapping, or the path of a YAML spec file.
        output: Output location overriding the spec's.

    Raises:
        SpecError: The spec is invalid, or neither it nor ``output`` names an output location.
    """
    if isinstance(spec, CubeSpec):
        parsed, origin = spec, "spec"
    elif isinstance(spec, str | Path):
        parsed, origin = load_spec(spec), str(spec)
    else:
        parsed, origin = parse_spec(spec, origin="spec parameter"), "spec parameter"
    parsed = parsed.with_output(output)
    if not parsed.output:
        raise SpecError(f"{origin}: no output location: set output in the spec or pass --output")
    return parsed


def _is_url(text: str) -> bool:
    return "://" in text


def resolve_relative(spec: CubeSpec, base: Path) -> CubeSpec:
    """Resolve relative local paths in ``spec`` against ``base``."""
    sources = {
        key: src.model_copy(update={"path": os.path.normpath(base / src.path)})
        if src.path and not _is_url(src.path) and not Path(src.path).is_absolute()
        else src
        for key, src in spec.sources.items()
    }
    output = spec.output
    if output and not _is_url(output) and not Path(output).is_absolute():
        output = os.path.normpath(base / output)
    return spec.model_copy(update={"sources": sources, "output": output})
