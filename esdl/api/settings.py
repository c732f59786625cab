"""Settings of the SPARQL endpoint (``esdl serve``): environment variables ``ESDL_SPARQL_*``."""

from __future__ import annotations

import re

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SparqlSettings(BaseSettings):
    """Limits and the database role of the endpoint.

    Environment variables: ``ESDL_SPARQL_TIMEOUT_S``, ``ESDL_SPARQL_MAX_ROWS``, ``ESDL_SPARQL_CACHE_SIZE``,
    ``ESDL_SPARQL_CACHE_MB``, ``ESDL_SPARQL_MAX_SQL_BYTES``, ``ESDL_SPARQL_TRANSLATE_TIMEOUT_S``,
    ``ESDL_SPARQL_READ_ROLE``, ``ESDL_SPARQL_READ_PASSWORD``, ``ESDL_SPARQL_DATABASE_URL``,
    ``ESDL_SPARQL_MAX_BODY_BYTES``, ``ESDL_SPARQL_MAX_RESPONSE_BYTES``, ``ESDL_SPARQL_MAX_CONCURRENT``,
    ``ESDL_SPARQL_QUEUE_TIMEOUT_S``, ``ESDL_SPARQL_EXPRESS_SLOTS``, ``ESDL_SPARQL_EXPRESS_MAX_COST``,
    ``ESDL_SPARQL_EXPRESS_TIMEOUT_S``, ``ESDL_SPARQL_PUBLIC_URL``. The database itself is ``ESDL_DATABASE_URL`` (or
    the project-local cluster).
    """

    model_config = SettingsConfigDict(env_prefix="ESDL_SPARQL_", env_file=".env", extra="ignore")

    timeout_s: float = Field(
        default=30, gt=0, description="statement timeout of one query in seconds (SET LOCAL statement_timeout)"
    )
    max_rows: int = Field(
        default=10000,
        ge=1,
        description="most solutions a query returns; more are cut off and the response carries "
        "`X-Esdl-Truncated: true`",
    )
    cache_size: int = Field(default=512, ge=1, description="translations (SPARQL → SQL) kept, by query text")
    cache_mb: float = Field(
        default=256, gt=0, description="memory the kept translations may take (estimated from their SQL's size)"
    )
    max_sql_bytes: int = Field(
        default=4 * 2**20, ge=4096, description="largest SQL a query may be rewritten into; larger: 400 too-complex"
    )
    translate_timeout_s: float = Field(
        default=5,
        gt=0,
        description="longest a query's translation (parsing, rewriting into SQL) may take in seconds; longer: it "
        "is stopped and the answer is 400 too-complex (with translate_processes: wall-clock time in a translator "
        "process, killed at the limit; 0 processes: the CPU time of the server's thread)",
    )
    translate_processes: int = Field(
        default=2,
        ge=0,
        le=64,
        description="worker processes that translate queries (new queries translated at once); they keep the "
        "translation off the server's GIL and are killed at translate_timeout_s (0: translate in the server's "
        "threads, two at once)",
    )
    read_role: str = Field(
        default="esdl_reader",
        description="the login role the endpoint connects as, which can only read: created by `esdl db upgrade` "
        "(USAGE on schema public, SELECT on its tables, nothing else)",
    )
    read_password: SecretStr | None = Field(
        default=None,
        description="password of read_role for a database given by ESDL_DATABASE_URL (`esdl db upgrade` sets it); "
        "the project-local cluster keeps its own",
    )
    database_url: SecretStr | None = Field(
        default=None,
        description="the endpoint's database URL, as a role that can only read (default: ESDL_DATABASE_URL or "
        "the local cluster, with read_role and its password)",
    )

    max_body_bytes: int = Field(
        default=1_048_576, ge=1024, description="largest request body (or query in the URL) in bytes; larger: 413"
    )
    max_response_bytes: int = Field(
        default=64 * 2**20, ge=1024, description="largest answer in bytes, once serialised; larger: 413 too-large"
    )
    max_concurrent: int = Field(
        default=4, ge=1, le=64, description="queries run at once; the database pool has as many connections"
    )
    queue_timeout_s: float = Field(
        default=10, gt=0, description="longest wait for a query slot; then 503 with Retry-After"
    )
    express_slots: int = Field(
        default=2,
        ge=0,
        le=16,
        description="query slots more, kept for cheap queries: when every ordinary slot is taken, a query whose "
        "planned cost is at most express_max_cost runs in one of these (0: none)",
    )
    express_max_cost: float = Field(
        default=10_000,
        gt=0,
        description="largest planned cost (PostgreSQL's EXPLAIN units) of a query the express slots take",
    )
    express_timeout_s: float = Field(
        default=2,
        gt=0,
        description="statement timeout in an express slot (a query planned cheap that runs long is stopped there)",
    )
    public_url: str | None = Field(
        default=None,
        description="the endpoint's URL as clients reach it, for sd:endpoint of the service description "
        "(default: the address `esdl serve` listens on); never taken from the request's Host header",
    )

    @field_validator("read_role")
    @classmethod
    def _plain_identifier(cls, value: str) -> str:
        # the role name ends up in GRANT statements, where it cannot be a bound parameter
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", value):
            raise ValueError("read_role must be a lower-case SQL identifier (letters, digits, _)")
        return value
