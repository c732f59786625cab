"""Prefect automations as code: the automations declared in ``deployments/automations.yaml``, applied to a Prefect
server by name (created when missing, updated when they differ from the file, left alone when equal).

``esdl up`` applies them after the deployments; ``make deployments`` runs ``python -m esdl.automations``. The one
declared now marks a flow run Crashed when its process stopped sending heartbeats (it died): see the file and
docs/operations.md, "When a run's process dies".

It relies on the settings of :data:`RUN_SETTINGS`, which ``esdl up`` gives every flow run of the project (in
``prefect.toml`` and in the worker's environment): flow runs send heartbeats only when ``heartbeat_frequency`` is
set, and a run's API calls must ride out a restart of the server for about as long as the automation waits.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prefect.events.schemas.automations import AutomationCore

AUTOMATIONS_FILE = Path("deployments") / "automations.yaml"
"""The project's automations, relative to the project folder."""

HEARTBEAT_S = 30
"""Seconds between two heartbeats of a flow run (Prefect's ``flows.heartbeat_frequency``; 30 is its minimum)."""

RUN_SETTINGS: dict[str, dict[str, int]] = {
    "flows": {"heartbeat_frequency": HEARTBEAT_S},
    # a request retried 6 times waits 2 + 4 + ... + 64 = 126 s in all for the server (Prefect's default, 5: 62 s):
    # as long as the automation waits for a heartbeat (120 s). Measured: with 5, a run whose server was away 95 s
    # failed with ConnectError after its cube was published (no event, no catalogue load); with 6, one whose server
    # was away 118 s completed (docs/operations.md, "When a run's process dies")
    "client": {"max_retries": 6},
}
"""Prefect settings of the project's flow runs, by section: what :func:`run_env` and :func:`run_toml` give."""


def run_env() -> dict[str, str]:
    """:data:`RUN_SETTINGS` as environment variables (``PREFECT_FLOWS_HEARTBEAT_FREQUENCY``...)."""
    return {
        f"PREFECT_{section}_{key}".upper(): str(value)
        for section, keys in RUN_SETTINGS.items()
        for key, value in keys.items()
    }


def run_toml() -> str:
    """:data:`RUN_SETTINGS` as sections of ``prefect.toml``."""
    return "".join(
        f"\n[{section}]\n" + "".join(f"{key} = {value}\n" for key, value in keys.items())
        for section, keys in RUN_SETTINGS.items()
    )


class AutomationsError(Exception):
    """The automations file is missing or invalid (the message names the file and the automation)."""


def declared(path: Path) -> list[AutomationCore]:
    """The automations of the file at ``path`` (a list under ``automations``), validated by Prefect's own model.

    Raises:
        AutomationsError: The file cannot be read, is not such a list, an automation is invalid, or two share a name.
    """
    import yaml
    from prefect.events.schemas.automations import AutomationCore
    from pydantic import ValidationError

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise AutomationsError(f"{path}: {err}") from None
    items = data.get("automations") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise AutomationsError(f"{path}: expected a list of automations under 'automations'")
    found: list[AutomationCore] = []
    for i, item in enumerate(items):
        name = item.get("name", f"#{i + 1}") if isinstance(item, dict) else f"#{i + 1}"
        try:
            automation = AutomationCore.model_validate(item)
        except ValidationError as err:
            raise AutomationsError(f"{path}: automation {name}: {err}") from None
        if any(a.name == automation.name for a in found):
            raise AutomationsError(f"{path}: two automations are named {automation.name}")
        found.append(automation)
    return found


def apply(path: Path, api_url: str | None = None) -> list[str]:
    """Make the server's automations of the names in ``path`` what the file says; one line per automation, saying
    whether it was created, updated or already so. ``api_url`` is the server (else Prefect's settings say).

    Raises:
        AutomationsError: The file is invalid (nothing is changed then).
    """
    from contextlib import nullcontext

    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    automations = declared(path)
    lines = []
    with (
        temporary_settings(updates={PREFECT_API_URL: api_url}) if api_url else nullcontext(),
        get_client(sync_client=True) as client,
    ):
        for automation in automations:
            existing = client.read_automations_by_name(automation.name)  # the newest first
            if not existing:
                client.create_automation(automation)
                how = "created"
            elif _same(existing[0], automation):
                how = "already so"
            else:
                client.update_automation(existing[0].id, automation)
                how = "updated"
            for extra in existing[1:]:  # the name is the automation's identity here
                client.delete_automation(extra.id)
            lines.append(f"automation {automation.name} ({how})")
    return lines


def _same(existing: Any, wanted: AutomationCore) -> bool:
    """Whether the server's automation ``existing`` is ``wanted`` (its id and the server's fields aside)."""
    from prefect.events.schemas.automations import AutomationCore

    return bool(AutomationCore.model_validate(existing.model_dump()) == wanted)


def main(argv: list[str] | None = None) -> int:
    """``python -m esdl.automations [FILE]``: apply FILE (``deployments/automations.yaml``) to Prefect's server."""
    args = sys.argv[1:] if argv is None else argv
    try:
        for line in apply(Path(args[0]) if args else AUTOMATIONS_FILE):
            print(line)
    except AutomationsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

__all__ = [
    "AUTOMATIONS_FILE",
    "HEARTBEAT_S",
    "RUN_SETTINGS",
    "AutomationsError",
    "apply",
    "declared",
    "run_env",
    "run_toml",
]
