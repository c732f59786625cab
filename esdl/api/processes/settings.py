"""Settings of OGC API - Processes (``esdl serve``): environment variables ``ESDL_PROCESSES_*``."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ProcessesSettings(BaseSettings):
    """How the Prefect deployments are served as processes.

    Environment variables: ``ESDL_PROCESSES_SYNC_TIMEOUT_S``, ``ESDL_PROCESSES_CACHE_S``,
    ``ESDL_PROCESSES_ORCHESTRATOR_TIMEOUT_S``, ``ESDL_PROCESSES_MAX_BODY_BYTES``, ``ESDL_PROCESSES_JOB_TAG``.
    The Prefect API is Prefect's own setting (``PREFECT_API_URL``).
    """

    model_config = SettingsConfigDict(env_prefix="ESDL_PROCESSES_", env_file=".env", extra="ignore")

    sync_timeout_s: float = Field(
        default=60,
        gt=0,
        le=3600,
        description="longest a synchronous execution (Prefer: respond-sync) waits for its job; a request's "
        "`Prefer: wait=N` asks for less. A job not finished by then is answered as an asynchronous one (201)",
    )
    cache_s: float = Field(
        default=10, ge=0, description="how long the list of deployments (the processes) is kept before it is read again"
    )
    orchestrator_timeout_s: float = Field(
        default=10, gt=0, description="longest one call to the Prefect API may take; longer: 503 with Retry-After"
    )
    max_body_bytes: int = Field(default=1_048_576, ge=1024, description="largest execute request in bytes; larger: 413")
    job_tag: str = Field(default="ogc-job", description="tag given to the flow runs created by an execute request")
