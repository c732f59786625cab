"""Plan a cube build: shape, chunking and the regions it is written in.

Regions are aligned with chunks (or shards, when the cube is sharded), so regions never share a chunk and can
be written independently, in any order, and redone alone after a crash.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cubes.grid import TargetGrid
from cubes.spec import CubeSpec
from cubes.timeaxis import build_time_axis

DEFAULT_MAX_REGION_BYTES = 256 * 2**20
MIN_REGIONS = 32


@dataclass(frozen=True)
class Region:
    """A block of the cube: half-open index ranges along time, y and x."""

    index: int
    time: tuple[int, int]
    y: tuple[int, int]
    x: tuple[int, int]

    def slices(self, ydim: str, xdim: str) -> dict[str, slice]:
        """The region as ``{dim: slice}``."""
        return {"time": slice(*self.time), ydim: slice(*self.y), xdim: slice(*self.x)}


@dataclass(frozen=True)
class CubePlan:
    """What a build will produce and in which regions it writes it."""

    spec: CubeSpec
    shape: tuple[int, int, int]
    dims: tuple[str, str, str]
    variables: tuple[str, ...]
    regions: tuple[Region, ...]

    @property
    def estimated_bytes(self) -> int:
        """Uncompressed size of the data variables (4 bytes a value)."""
        return 4 * len(self.variables) * math.prod(self.shape)

    def describe(self) -> dict[str, object]:
        """A JSON-friendly summary for the CLI and artifacts."""
        c, s = self.spec.chunks, self.spec.shards
        return {
            "name": self.spec.name,
            "dims": dict(zip(self.dims, self.shape, strict=True)),
            "chunks": {"time": c.time, "y": c.y, "x": c.x},
            "shards": None if s is None else {"time": s.time, "y": s.y, "x": s.x},
            "variables": list(self.variables),
            "regions": len(self.regions),
            "estimated_size_mb": round(self.estimated_bytes / 2**20, 1),
            "output": self.spec.output,
            "fingerprint": self.spec.fingerprint(),
        }


def _splits(n: int, block: int, max_blocks: int) -> list[tuple[int, int]]:
    step = block * max(1, max_blocks)
    return [(a, min(a + step, n)) for a in range(0, n, step)]


def plan_cube(spec: CubeSpec, max_region_bytes: int = DEFAULT_MAX_REGION_BYTES) -> CubePlan:
    """Plan ``spec``: regions of whole blocks (shards or chunks), at most ``max_region_bytes`` each.

    A region spans as much of the grid as fits, in whole blocks; when the whole grid fits, it spans several
    blocks along time too, as long as the cube keeps at least :data:`MIN_REGIONS` regions (the granularity of
    progress and of resuming; each region also costs a little bookkeeping).
    """
    grid = TargetGrid(spec.grid)
    nt = build_time_axis(spec.time).size
    ny, nx = grid.shape
    names = [v.name for v in spec.variables] + [f"{v.name}_count" for v in spec.variables if v.count_valid]
    block = spec.shards or spec.chunks
    bt, by, bx = min(block.time, nt), min(block.y, ny), min(block.x, nx)
    per_block = 4 * len(names) * bt * by * bx
    blocks_fit = max(1, max_region_bytes // per_block)
    nby, nbx = math.ceil(ny / by), math.ceil(nx / bx)
    time_blocks = 1
    if nby * nbx <= blocks_fit:
        ysplit, xsplit = [(0, ny)], [(0, nx)]
        time_blocks = max(1, min(blocks_fit // (nby * nbx), math.ceil(nt / bt) // MIN_REGIONS))
    else:
        ysplit = _splits(ny, by, max(1, blocks_fit // nbx))
        xsplit = [(0, nx)] if blocks_fit >= nbx else _splits(nx, bx, blocks_fit)
    bt *= time_blocks
    regions: list[Region] = []
    for t0 in range(0, nt, bt):
        for y in ysplit:
            for x in xsplit:
                regions.append(Region(len(regions), (t0, min(t0 + bt, nt)), y, x))
    ydim, xdim = grid.dims
    return CubePlan(spec, (nt, ny, nx), ("time", ydim, xdim), tuple(names), tuple(regions))
