"""The project's automations as code (esdl.automations): applied by name to a real Prefect server (created,
already so, updated, duplicates removed); an invalid file is refused naming the automation, and nothing is changed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from esdl.automations import AUTOMATIONS_FILE, AutomationsError, apply, declared, main
from esdl_testing.paths import REPO_ROOT


def project_file(tmp_path: Path, name: str, **trigger: object) -> Path:
    """The project's automations file with the automation renamed ``name`` (and its trigger changed)."""
    data = yaml.safe_load((REPO_ROOT / AUTOMATIONS_FILE).read_text())
    (automation,) = data["automations"]
    automation["name"] = name
    automation["trigger"].update(trigger)
    path = tmp_path / f"{name}-{len(list(tmp_path.iterdir()))}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_applied_by_name(prefect_api: str, tmp_path: Path) -> None:
    from prefect.client.orchestration import get_client

    name = f"crash-silent-{tmp_path.name}"
    path = project_file(tmp_path, name)
    assert apply(path, prefect_api) == [f"automation {name} (created)"]
    assert apply(path, prefect_api) == [f"automation {name} (already so)"]
    assert apply(project_file(tmp_path, name, within=150), prefect_api) == [f"automation {name} (updated)"]
    with get_client(sync_client=True) as client:
        (found,) = client.read_automations_by_name(name)
        assert found.trigger.within.total_seconds() == 150  # type: ignore[union-attr]  # an event trigger
        client.create_automation(declared(path)[0])  # a second of that name, made by hand: the newest
    assert apply(path, prefect_api) == [f"automation {name} (already so)"]
    with get_client(sync_client=True) as client:
        (found,) = client.read_automations_by_name(name)  # the older one removed
        assert found.trigger.within.total_seconds() == 120  # type: ignore[union-attr]
    assert apply(project_file(tmp_path, name, within=90), prefect_api) == [f"automation {name} (updated)"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("automations: {}\n", "expected a list of automations under 'automations'"),
        ("- name: x\n", "expected a list of automations under 'automations'"),
        ("automations: [{name: odd, trigger: {type: event, posture: Sometimes}, actions: []}]\n", "automation odd:"),
        ("automations: [{trigger: {type: event}, actions: []}]\n", "automation #1:"),
        ("automations: [: x\n", "automations.yaml:"),
    ],
)
def test_invalid_file_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "automations.yaml"
    path.write_text(text)
    with pytest.raises(AutomationsError, match=re.escape(message)):
        declared(path)
    assert main([str(path)]) == 2  # one line: error: ..., exit 2 (nothing applied)


def test_two_of_one_name_refused(tmp_path: Path) -> None:
    data = yaml.safe_load((REPO_ROOT / AUTOMATIONS_FILE).read_text())
    data["automations"] *= 2
    path = tmp_path / "automations.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(AutomationsError, match="two automations are named esdl-crash-silent-flow-runs"):
        declared(path)
