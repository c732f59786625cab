"""Small helpers over the Prefect API shared by the webhooks and the command line."""

from __future__ import annotations

import asyncio
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


class LazyClient:
    """A service's one Prefect client (its API URL from Prefect's settings), opened on first use, closed with the
    service."""

    def __init__(self) -> None:
        self._client: Any = None
        self._lock = asyncio.Lock()

    async def get(self) -> Any:
        """The client (a :class:`prefect.client.orchestration.PrefectClient`, entered)."""
        async with self._lock:
            if self._client is None:
                from prefect.client.orchestration import get_client

                client = get_client()
                await client.__aenter__()
                self._client = client
            return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.__aexit__(None, None, None)
            self._client = None


__all__ = ["LazyClient", "http_detail", "ui_url"]
