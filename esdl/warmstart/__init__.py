"""Warm starts of flow runs: a process worker's flow run starts in a forked copy of a process that has already
imported Prefect and the project's flows, instead of in a new Python that imports them again (2-3 s for Prefect,
5-8 s with the build's xarray, Dask and xcube, on the development machine).

Two parts, both run with the project's interpreter (``python -m esdl.warmstart``):

``zygote --socket PATH [--preload FILE]...``
    A long-lived process (a stack component of ``esdl up``) that imports ``prefect.engine``, the modules a flow
    run uses, and the modules each ``--preload`` entry point file imports (the file is executed once, then
    forgotten), and then listens on a UNIX socket (mode 0600, peers of other users refused). It starts no thread
    and no event loop, so that forking it is safe; it refuses to fork when it finds a thread.

``launch PATH [ARGS]...``
    What the work pool's job template runs instead of ``python -m prefect.engine`` (its ``command``). Standard
    library only, so it starts in some 50 ms. It sends the zygote its environment, working directory, arguments
    and standard input, output and error (the descriptors themselves, ``SCM_RIGHTS``); the zygote forks a child
    that takes them over and runs ``prefect.engine`` as ``__main__``, as ``python -m prefect.engine`` would. The
    launcher then stays the process Prefect knows: it forwards SIGTERM, SIGINT and SIGHUP to the child's process
    group (Prefect's cancellation signals the process it started; the child leads a group of its own, as a run of
    Prefect's default job template leads a session of its own, so the run's own subprocesses get them too), and
    ends as the child ended (its exit code, or killed by the same signal). If the launcher dies, the zygote kills
    the child's group; if the zygote dies, the launcher does.

Correctness never depends on the zygote: when it is not running, is restarting, refuses (an environment it was
not started with: see :func:`differences`; a thread; its code changed on disk) or anything else fails before the
fork, the launcher replaces itself with ``python -m prefect.engine`` (``os.execv``: the same process), a cold
start. The launcher confirms the fork before the child may run, so a run never starts twice.

What the child shares with the zygote, and a fresh Python would not:

* modules already imported: the zygote compares each imported module's file (outside the standard library)
  with what it imported before every fork, and when one changed it stops forking (cold starts) and, once no run
  of it is left, re-executes itself with the new code. The flow's entry point file itself is executed afresh in
  each run, as Prefect always does;
* the environment variables read at start-up (the interpreter's ``PYTHON*``, native libraries' thread settings,
  Dask's configuration...): a run whose environment differs from the zygote's in anything but Prefect's run-time
  settings and esdl's own (read when used) starts cold instead;
* the hash seed of ``str`` (``PYTHONHASHSEED``): the same in every child. The random module and NumPy's global
  generator are seeded afresh in each child.
"""

# (the launcher imports this package: nothing here that it does not need; the rest is imported where used)
import json
import sys
from pathlib import Path
from typing import Any

from esdl.warmstart.protocol import SOCKET, Cold, differences, listening

__all__ = [
    "SOCKET",
    "Cold",
    "differences",
    "entrypoint_files",
    "job_template",
    "launcher_command",
    "listening",
    "set_pool_command",
    "zygote_command",
]


def launcher_command(socket_path: Path | str) -> str:
    """The job template's ``command`` that starts a flow run through the zygote at ``socket_path``."""
    import shlex

    return shlex.join([sys.executable, "-m", "esdl.warmstart", "launch", str(Path(socket_path).absolute())])


def zygote_command(socket_path: Path | str, preload: list[str]) -> list[str]:
    """The command line of a zygote listening at ``socket_path`` with the entry point files ``preload``."""
    args = [sys.executable, "-m", "esdl.warmstart", "zygote", "--socket", str(Path(socket_path).absolute())]
    for path in preload:
        args += ["--preload", path]
    return args


def job_template(socket_path: Path | str) -> dict[str, Any]:
    """Prefect's base job template of a process work pool, its ``command`` the launcher's (every deployment of the
    pool starts warm, unless its job variables name another command)."""
    from prefect.workers.process import ProcessWorker

    template: dict[str, Any] = ProcessWorker.get_default_base_job_template()
    template["variables"]["properties"]["command"]["default"] = launcher_command(socket_path)
    return template


def set_pool_command(api_url: str, pool: str, socket_path: Path | str) -> bool:
    """Make the process work pool ``pool`` start its runs through the zygote at ``socket_path`` (its job
    template's ``command``, through the Prefect API at ``api_url``); whether that changed anything.

    Raises:
        OSError: The API cannot be reached or refused (an ``urllib`` error).
    """
    import urllib.request

    url = f"{api_url.rstrip('/')}/work_pools/{pool}"
    with urllib.request.urlopen(url, timeout=30) as r:
        template = json.loads(r.read())["base_job_template"]
    command = template.setdefault("variables", {}).setdefault("properties", {}).setdefault("command", {})
    wanted = launcher_command(socket_path)
    if command.get("default") == wanted:
        return False
    command["default"] = wanted
    body = json.dumps({"base_job_template": template}).encode()
    change = urllib.request.Request(url, data=body, method="PATCH", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(change, timeout=30):
        return True


def entrypoint_files(prefect_yaml: Path) -> list[str]:
    """The flow files of the deployments a ``prefect.yaml`` declares (relative to its project), each once: what a
    zygote preloads."""
    import yaml

    declared = yaml.safe_load(prefect_yaml.read_text(encoding="utf-8")).get("deployments") or []
    files = [str(d["entrypoint"]).rpartition(":")[0] for d in declared if ".py:" in str(d.get("entrypoint", ""))]
    return list(dict.fromkeys(files))
