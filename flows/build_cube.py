"""The ``build-cube`` flow: plan, template, region batches, finalize (verify, statistics, quicklooks, publish),
artifacts.

Prefect tasks are coarse (one per stage or batch of regions); the array work of each runs on the Dask cluster
given by the ``cluster`` settings or a saved ``esdl-dask-cluster`` block. Tasks retry; a rerun with
``resume=True`` redoes only the regions that were not recorded as written.
"""

from __future__ import annotations

import base64
import hashlib
import math
from pathlib import Path
from typing import Any

# What finalize needs (xcube's verifier, matplotlib without pyplot), imported with the flow rather than when
# finalize runs, and the regridding kernels loaded (below): the warm-start zygote preloads this module, so a
# deployment's run pays neither (1.9 s and 0.25 s of CPU). Imported in a thread while the regions were computed
# instead, they took that CPU from the array work on 2 cores.
import matplotlib.backends.backend_agg
import matplotlib.figure  # noqa: F401
import xarray as xr
import xcube.core.verify  # noqa: F401
from distributed import Client
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture

from cubes.assemble import build_cube as assemble_cube
from cubes.cluster import dask_cluster, release_free_memory
from cubes.errors import WriteError
from cubes.finish import finish_build
from cubes.plan import CubePlan, plan_cube
from cubes.regrid import kernels
from cubes.spec import CubeSpec, resolve_spec
from cubes.stats import VariableStats
from cubes.store import Publication, build_location
from cubes.writer import start_build, write_regions, write_template
from flows.keys import key_part
from flows.load_catalog import load_catalog
from flows.locks import one_writer
from flows.quoting import as_is
from flows.results import BuildResult, Progress, VariableSummary, record_result
from flows.settings import cluster_settings

kernels.warm()

MAX_BATCHES = 8
BATCH_BYTES = 64 * 2**20  # a batch (Prefect task) per this much output at least, at most MAX_BATCHES


def batch_size(plan: CubePlan, todo: int) -> int:
    """Regions per batch: enough batches for progress and retries, not so many that overhead shows."""
    batches = min(MAX_BATCHES, max(1, math.ceil(plan.estimated_bytes * todo / len(plan.regions) / BATCH_BYTES)))
    return max(1, math.ceil(todo / batches))


@task(name="plan", cache_policy=NO_CACHE)
def plan_task(spec: CubeSpec, resume: bool) -> tuple[CubePlan, list[int]]:
    """Plan the cube and prepare the staging build; return the plan and the regions still to write."""
    publication, build = build_location(spec)
    publication.check_publishable()
    plan = plan_cube(spec)
    done = start_build(plan, build, resume)
    todo = [r.index for r in plan.regions if r.index not in done]
    get_run_logger().info(
        "planned %s: %d regions, %d to write (%s)",
        spec.name,
        len(plan.regions),
        len(todo),
        "resuming" if done else "fresh build",
    )
    return plan, todo


@task(name="template", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)
def template_task(spec: CubeSpec, plan: CubePlan) -> xr.Dataset:
    """Assemble the lazy cube and write its template (metadata and coordinates)."""
    cube = assemble_cube(spec)
    write_template(cube, plan, build_location(spec)[1])
    return cube


@task(name="write-regions", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)
def regions_task(spec: CubeSpec, plan: CubePlan, cube: xr.Dataset, indices: list[int], address: str) -> int:
    """Compute and write one batch of regions on the cluster; return how many were written."""
    build = build_location(spec)[1]
    regions = [plan.regions[i] for i in indices]
    with Client(address, set_as_default=False) as client:  # tasks run in threads side by side
        written = write_regions(cube, plan, build, regions, client=client)
    release_free_memory()
    get_run_logger().info("wrote %d regions (%s..%s)", written, indices[0], indices[-1])
    return written


@task(name="finalize", cache_policy=NO_CACHE)
def finalize_task(spec: CubeSpec, plan: CubePlan) -> tuple[str, list[VariableStats]]:
    """Check every region is written, verify the cube, compute statistics and quicklooks, publish."""
    path, stats = finish_build(spec, plan)
    return str(path), stats


def _summary_markdown(spec: CubeSpec, plan: CubePlan, path: str, written: int) -> str:
    desc = plan.describe()
    t = spec.time
    rows = "\n".join(
        f"| `{v.name}` | {v.source} | {v.units or ''} | {v.spatial_aggregation} | {v.temporal_aggregation} |"
        for v in spec.variables
    )
    return (
        f"# Cube `{spec.name}` {spec.version}\n\n"
        f"- **Location:** `{spec.output}` → `{path}`\n"
        f"- **Grid:** {spec.grid.crs}, bbox {list(spec.grid.bbox)}, resolution {spec.grid.resolution}; "
        f"dims {desc['dims']}\n"
        f"- **Time axis:** {t.start} .. {t.end}, period {t.period}"
        f"{' (restarting every 1 January)' if t.restart_yearly else ''}\n"
        f"- **Chunks:** {desc['chunks']}; shards: {desc['shards']}\n"
        f"- **Size:** {desc['estimated_size_mb']} MB uncompressed; {desc['regions']} regions "
        f"({written} written in this run)\n\n"
        f"| variable | source | units | spatial | temporal |\n|---|---|---|---|---|\n{rows}\n"
    )


@task(name="artifacts", cache_policy=NO_CACHE)
def artifacts_task(spec: CubeSpec, plan: CubePlan, path: str, stats: list[VariableStats], written: int) -> None:
    """Publish the run's summary, statistics table and quicklooks as Prefect artifacts."""
    key = key_part(spec.name)
    create_markdown_artifact(
        _summary_markdown(spec, plan, path, written), key=f"cube-{key}", description=f"cube {spec.name} summary"
    )
    create_table_artifact(
        [s.as_row() for s in stats], key=f"cube-{key}-stats", description=f"cube {spec.name} per-variable statistics"
    )
    quicklooks = Path(path).parent / "quicklooks"
    for st in stats:
        png = quicklooks / f"{st.name}.png"
        if png.exists():
            data = base64.b64encode(png.read_bytes()).decode()
            create_markdown_artifact(
                f"![{st.name}](data:image/png;base64,{data})",
                key=f"cube-{key}-{st.name.lower().replace('_', '-')}",
                description=f"quicklook of {st.name}",
            )


# validate_parameters=False: the spec is validated by cubes.spec.resolve_spec, whose SpecError names the field; the
# CubeSpec annotation gives the deployment its parameter schema (a form in the UI, checked by the server and the
# webhooks), and a mapping of its fields is accepted as well
@flow(name="build-cube", log_prints=True, validate_parameters=False, on_completion=[record_result])
def build_cube(
    spec: CubeSpec | str,
    output: str | None = None,
    resume: bool = False,
    cluster: dict[str, Any] | None = None,
    cluster_block: str | None = None,
    catalog: dict[str, Any] | None = None,
) -> BuildResult:
    """Build the cube described by ``spec`` and publish it atomically at its output location.

    Args:
        spec: The cube spec (:class:`cubes.spec.CubeSpec`, or a mapping of its fields) or the path of a YAML spec.
        output: Output location overriding the spec's.
        resume: Reuse a previous unfinished build of the same spec and write only its missing regions; if the
            published cube was built from this very spec, build nothing.
        cluster: :class:`~cubes.cluster.ClusterSettings` fields (``address``, ``min_workers``...).
        cluster_block: Name of a saved ``esdl-dask-cluster`` block (wins over ``cluster``).
        catalog: Then load the published cube into the catalogue, on the same cluster:
            :func:`flows.load_catalog.load_catalog` arguments (``regions``, ``features``, ``variables``,
            ``min_cells``, ``database_block``); ``{}`` registers it only.

    Returns:
        The published cube, its statistics, the scheduler used and, with ``catalog``, the load's result.
    """
    cube_spec = resolve_spec(spec, output)
    settings = cluster_settings(cluster, cluster_block)
    # one writer per cube: a second build of the same output (another submission, a schedule, a webhook) waits
    with one_writer(str(cube_spec.output)):
        result = _build(cube_spec, settings, resume)
    return _then_catalog(result, catalog, cluster, cluster_block)


def _build(cube_spec: CubeSpec, settings: Any, resume: bool) -> BuildResult:
    """The build of :func:`build_cube`, in its flow run, holding the cube's writer slot."""
    publication = build_location(cube_spec)[0]
    if resume and publication.published_fingerprint() == cube_spec.fingerprint():
        # nothing to resume: the published cube was built from this very spec
        get_run_logger().info("%s is up to date with the spec; nothing to build", cube_spec.output)
        plan = plan_cube(cube_spec)
        result = BuildResult(
            path=str(publication.current()),
            output=str(cube_spec.output),
            regions=len(plan.regions),
            written=0,
            variables=list(plan.variables),
            stats=[],
            scheduler=None,
        )
        if not publication.announced():  # the run that published it failed or died before announcing it
            _announce(result, publication)
        return result
    plan, todo = plan_task(cube_spec, resume)
    cube: xr.Dataset = template_task(cube_spec, plan)  # type: ignore[assignment]  # prefect reads Dataset as awaitable
    written = 0
    with dask_cluster(settings) as address:
        size = batch_size(plan, len(todo))
        progress = Progress(len(todo), f"regions of {cube_spec.name} written")
        running: list[tuple[PrefectFuture[int], int]] = []
        for start in range(0, len(todo), size):
            # the next batch is submitted while one runs, so the cluster never drains between batches
            # as_is(): Prefect must not walk the dataset looking for futures
            batch = todo[start : start + size]
            future = regions_task.submit(as_is(cube_spec), as_is(plan), as_is(cube), batch, address)
            running.append((future, len(batch)))
            if len(running) > 1:
                future, count = running.pop(0)
                written += future.result()
                progress.advance(count)
        for future, count in running:
            written += future.result()
            progress.advance(count)
    path, stats = finalize_task(cube_spec, plan)
    progress.finish()
    result = BuildResult(
        path=path,
        output=str(cube_spec.output),
        regions=len(plan.regions),
        written=written,
        variables=list(plan.variables),
        stats=[VariableSummary.model_validate(s.as_row()) for s in stats],
        scheduler=address,
    )
    _announce(result, publication)  # published: announced first, so that a failure of the artifacts loses nothing
    artifacts_task(cube_spec, plan, path, stats, written)
    return result


PUBLISHED = "esdl.cube.published"


def _announce(result: BuildResult, publication: Publication) -> None:
    """Emit :data:`PUBLISHED` for a cube just published, and mark its version announced: inside a deployment's run
    the event is related to the deployment, which the load-catalog deployment's trigger (deployments/prefect.yaml)
    waits for. A run that dies between publishing and marking leaves the version unmarked, and the next build of
    the spec (finding it up to date) announces it then: at least once per published version."""
    from prefect.events import emit_event

    emit_event(
        PUBLISHED,
        resource={
            "prefect.resource.id": f"esdl.cube.{hashlib.sha256(result.output.encode()).hexdigest()[:16]}",
            "prefect.resource.name": result.output,
        },
        payload={"output": result.output, "path": result.path, "regions": result.regions, "written": result.written},
    )
    publication.mark_announced()


def _then_catalog(
    result: BuildResult, catalog: dict[str, Any] | None, cluster: dict[str, Any] | None, cluster_block: str | None
) -> BuildResult:
    """Load the published cube into the catalogue as a subflow run on the build's cluster, when asked.

    The build's own cluster settings go along (a saved block by its name, so the subflow run shows it): an
    external scheduler is the very same cluster; a local one is started anew with the same settings (the build's
    is closed by then: a closed client left as the default one would be picked up by the load's reads).
    """
    if catalog is None:
        return result
    if "cluster" in catalog or "cluster_block" in catalog:
        raise WriteError("catalog: the catalogue step runs on the build's cluster; set cluster or cluster_block")
    loaded = load_catalog(cube=result.output, cluster=cluster, cluster_block=cluster_block, **catalog)
    return result.model_copy(update={"catalog": loaded})
