"""The resumable writer: template first, then regions, each recorded once its blocks are in the store."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import dask
import dask.array as dsa
import numpy as np
import xarray as xr
import zarr

from cubes.assemble import encoding
from cubes.errors import WriteError
from cubes.plan import CubePlan, Region
from cubes.sources.normalize import strip_encoding
from cubes.stats import N_STATS, block_stats, combine_block_stats
from cubes.store import BuildDir

if TYPE_CHECKING:
    from dask.delayed import Delayed
    from distributed import Client


def start_build(plan: CubePlan, build: BuildDir, resume: bool) -> set[int]:
    """Prepare ``build`` for ``plan``; return the regions already done (empty unless resuming).

    Resuming requires a previous build of the same fingerprint; otherwise (or without ``resume``) the build
    folder is reset.
    """
    desc = plan.describe()
    if resume and build.exists():
        recorded = build.plan()
        if recorded.get("fingerprint") != desc["fingerprint"] or recorded.get("regions") != desc["regions"]:
            raise WriteError(f"cannot resume {build.root}: it was started for another spec or plan")
        return build.done_regions() if build.template_done() else set()
    build.reset(desc)
    return set()


def write_template(cube: xr.Dataset, plan: CubePlan, build: BuildDir) -> None:
    """Write metadata and coordinates (no data) to the store as Zarr format 3."""
    if build.template_done():
        return
    cube = strip_encoding(cube.copy())
    try:
        cube.to_zarr(
            build.store, mode="w", compute=False, zarr_format=3, consolidated=False, encoding=encoding(plan.spec, cube)
        )
    except (ValueError, TypeError, OSError) as err:
        raise WriteError(f"cannot write the cube template to {build.store}: {err}") from None
    build.mark_template_done()


def write_regions(
    cube: xr.Dataset,
    plan: CubePlan,
    build: BuildDir,
    regions: Iterable[Region],
    client: Client | None = None,
    on_done: Callable[[Region], None] | None = None,
) -> int:
    """Compute and write ``regions`` (skipping those already done); return how many were written.

    The store's arrays are opened once and each region's blocks are stored into them directly (the template
    fixed dtypes, fill values and encodings; regions align with chunks or shards, so no two tasks write one
    chunk). With a distributed ``client`` the regions are computed concurrently on its cluster and each is
    recorded as soon as it is written; otherwise one after another on the current dask scheduler. A region is
    recorded only after its data is in the store, so a crash never records a missing region.
    """
    done = build.done_regions()
    todo = [r for r in regions if r.index not in done]
    if not todo:
        return 0
    group = zarr.open_group(str(build.store), mode="r+", zarr_format=3)
    targets = [_array(group, name) for name in plan.variables]
    sources = [cube[name].data for name in plan.variables]
    for name, src in zip(plan.variables, sources, strict=True):
        if not isinstance(src, dsa.Array):
            raise WriteError(f"variable {name!r} is not a dask array; assemble the cube with cubes.assemble")

    # one graph for the whole cube: every block stores itself and returns its statistics; a region is the set of
    # blocks it covers (regions align with blocks), so the regions submitted share one graph, culled once
    blocks = []
    for src, dst in zip(sources, targets, strict=True):
        ones = ((1,) * len(src.chunks[1]), (1,) * len(src.chunks[2]), (N_STATS,))
        stored = src.astype(dst.dtype).map_blocks(
            _store_block, target=dst, dtype=np.float64, new_axis=3, chunks=(src.chunks[0], *ones)
        )
        blocks.append(stored.to_delayed(optimize_graph=False))  # (time, y, x, 1) blocks: np.block nests by 4
    starts = [np.cumsum((0, *c)) for c in sources[0].chunks]

    def delayed_write(region: Region) -> Delayed:
        index = tuple(
            _block_range(edges, span) for edges, span in zip(starts, (region.time, region.y, region.x), strict=True)
        )
        return dask.delayed(_region_stats, pure=True)([b[(*index, slice(None))].tolist() for b in blocks])

    def finish(region: Region, stats: np.ndarray) -> None:
        build.mark_region_done(region.index, {"time0": region.time[0], "stats": stats.tolist()})
        if on_done is not None:
            on_done(region)

    if client is None:
        for region in todo:
            finish(region, delayed_write(region).compute())
        return len(todo)
    from distributed import as_completed

    # one submission for the whole batch, so the regions' shared upstream tasks are one graph
    submitted = client.compute([delayed_write(r) for r in todo])
    futures = dict(zip(submitted, todo, strict=True))
    for future in as_completed(submitted, loop=client.loop):
        finish(futures[future], future.result())
    return len(todo)


def _array(group: zarr.Group, name: str) -> zarr.Array:
    node = group[name]
    if not isinstance(node, zarr.Array):
        raise WriteError(f"{name!r} in {group.store} is not an array")
    return node


def _block_range(edges: np.ndarray, span: tuple[int, int]) -> slice:
    """The blocks (between chunk ``edges``) that make up ``span``; raise if it does not fall on block edges."""
    first, last = np.searchsorted(edges, span[0]), np.searchsorted(edges, span[1])
    if edges[first] != span[0] or edges[last] != span[1]:
        raise WriteError(f"region {span} does not align with the cube's dask chunks {np.diff(edges).tolist()}")
    return slice(int(first), int(last))


def _region_stats(per_variable: list[list[Any]]) -> np.ndarray:
    """Combine each variable's nested lists of block statistics (blocks of ``(t, 1, 1, N_STATS)``)."""
    return np.stack([combine_block_stats(np.block(blocks)) for blocks in per_variable])


def _store_block(block: np.ndarray, target: zarr.Array, block_info: Any = None) -> np.ndarray:
    """Write one dask block into ``target`` at its place; return its per-time-step statistics (see
    :func:`cubes.stats.block_stats`)."""
    target[tuple(slice(a, b) for a, b in block_info[0]["array-location"])] = block
    return block_stats(block)[:, None, None, :]


def missing_regions(plan: CubePlan, build: BuildDir) -> list[Region]:
    """Regions of ``plan`` not yet recorded as written."""
    done = build.done_regions()
    return [r for r in plan.regions if r.index not in done]
