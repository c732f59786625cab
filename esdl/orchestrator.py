"""Small helpers over the Prefect API shared by the webhooks and the command line."""

from __future__ import annotations

from typing import Any


def ui_url(run_id: Any) -> str | None:
    """The Prefect UI's page of flow run ``run_id`` (``None`` when no UI address is known)."""
    from prefect.settings import PREFECT_UI_URL

    base = PREFECT_UI_URL.value()
    return f"{base.rstrip('/')}/runs/flow-run/{run_id}" if base else None


def http_detail(err: Any) -> str:
    """The ``detail`` of a Prefect API error response (its text when not JSON), shortened."""
    try:
        return str(err.response.json().get("detail"))[:500]
    except ValueError:
        return str(err.response.text)[:500]


__all__ = ["http_detail", "ui_url"]
