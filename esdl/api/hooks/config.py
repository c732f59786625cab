"""The hooks file (``deployments/hooks.yaml``): each hook's deployment, parameter mapping and secret."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator


class Secret(BaseModel):
    """Where a hook's secret is: an environment variable or a Prefect Secret block (exactly one)."""

    model_config = ConfigDict(extra="forbid")
    env: str | None = None
    block: str | None = None

    @model_validator(mode="after")
    def _one(self) -> Secret:
        if (self.env is None) == (self.block is None):
            raise ValueError("a hook's secret is `env: VARIABLE` or `block: NAME` (a Prefect Secret block)")
        return self


class Hook(BaseModel):
    """One hook: the deployment (``flow-name/deployment-name``) a delivery runs, the parameters from the body
    (name -> JSON pointer, ``""`` the whole body), fixed parameters, and the secret."""

    model_config = ConfigDict(extra="forbid")
    deployment: str = Field(pattern=r"^[^/]+/[^/]+$")
    secret: Secret
    parameters: dict[str, str] = Field(default_factory=dict)
    defaults: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    description: str = ""


class HooksConfig(BaseModel):
    """The hooks file."""

    model_config = ConfigDict(extra="forbid")
    tolerance_s: float = Field(default=300, gt=0)
    max_body_bytes: int = Field(default=65536, ge=64)
    # the longest a delivery waits for the Prefect API (its client retries a busy server for a minute and more)
    orchestrator_timeout_s: float = Field(default=10, gt=0)
    hooks: dict[str, Hook] = Field(default_factory=dict)


def load_hooks(path: Path) -> HooksConfig:
    """The hooks declared in ``path`` (YAML).

    Raises:
        ValueError: Not a valid hooks file (the message names the field).
    """
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return HooksConfig.model_validate(data)
