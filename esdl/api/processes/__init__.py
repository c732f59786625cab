"""OGC API - Processes - Part 1: Core over the Prefect deployments: a process per deployment, a job per flow run.

:mod:`esdl.api.processes.router` (the routes), :mod:`esdl.api.processes.documents` (the standard's documents from
deployments and runs), :mod:`esdl.api.processes.service` (the Prefect side), :mod:`esdl.api.processes.settings`
(``ESDL_PROCESSES_*``). docs/processes.md describes the API as served.
"""

from esdl.api.processes.router import processes_router
from esdl.api.processes.service import JobQuery, Process, ProcessService
from esdl.api.processes.settings import ProcessesSettings

__all__ = ["JobQuery", "Process", "ProcessService", "ProcessesSettings", "processes_router"]
