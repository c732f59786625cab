"""The resumable writer: template first, then regions, each recorded when durably written."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import xarray as xr

from cubes.assemble import encoding
from cubes.errors import WriteError
from cubes.plan import CubePlan, Region
from cubes.sources.normalize import strip_encoding
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

    With a distributed ``client`` the regions are computed concurrently on its cluster and each is recorded
    as soon as it is written; otherwise they are computed one after another on the current dask scheduler.
    A region is recorded only after its data is in the store, so a crash never records a missing region.
    """
    _, ydim, xdim = plan.dims
    done = build.done_regions()
    todo = [r for r in regions if r.index not in done]
    subset = cube[list(plan.variables)]
    data = strip_encoding(subset.drop_vars(list(subset.coords)))

    def delayed_write(region: Region) -> Delayed:
        slices = region.slices(ydim, xdim)
        return data.isel(slices).to_zarr(
            build.store, region=slices, mode="r+", zarr_format=3, consolidated=False, compute=False
        )

    def finish(region: Region) -> None:
        build.mark_region_done(region.index)
        if on_done is not None:
            on_done(region)

    if client is None:
        for region in todo:
            delayed_write(region).compute()
            finish(region)
        return len(todo)
    from distributed import as_completed

    # one submission for the whole batch, so the regions' shared upstream tasks are one graph
    submitted = client.compute([delayed_write(r) for r in todo])
    futures = dict(zip(submitted, todo, strict=True))
    for future in as_completed(submitted):
        future.result()
        finish(futures[future])
    return len(todo)


def missing_regions(plan: CubePlan, build: BuildDir) -> list[Region]:
    """Regions of ``plan`` not yet recorded as written."""
    done = build.done_regions()
    return [r for r in plan.regions if r.index not in done]
