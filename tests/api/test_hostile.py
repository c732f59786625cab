"""The endpoint under hostile input: every case of ``hostile/`` (one query a file, its expected status in its first
line) is answered with that status and a JSON body that names no class, host, port or setting; the connection
and the database keep serving afterwards."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from esdl.api.settings import SparqlSettings
from esdl.api.sparql import create_app
from semantic.store.db import make_engine

CASES = Path(__file__).resolve().parent / "hostile"
LEAKS = re.compile(r"Error\b|Exception|psycopg|sqlalchemy|postgres|host|port|max_stack_depth|pool", re.IGNORECASE)


def cases() -> list[str]:
    return sorted(p.stem for p in CASES.glob("*.rq"))


@pytest.fixture(scope="module")
def client(postgis_server: str) -> Iterator[tuple[TestClient, sa.Engine]]:
    from esdl_testing.database import fresh_database

    with fresh_database(postgis_server) as url:
        engine = make_engine(url)
        settings = SparqlSettings(_env_file=None, timeout_s=10)  # type: ignore[call-arg]
        with TestClient(create_app(settings, engine=engine), raise_server_exceptions=False) as c:
            yield c, engine
        engine.dispose()


@pytest.mark.parametrize("name", cases())
def test_hostile_query_gets_its_status_and_a_clean_json_body(name: str, client: tuple[TestClient, sa.Engine]) -> None:
    c, engine = client
    with engine.connect() as conn:
        started = conn.execute(sa.text("SELECT pg_postmaster_start_time()")).scalar()
    first, text = (CASES / f"{name}.rq").read_text().split("\n", 1)
    expect = first.removeprefix("# expect:").split()
    response = c.post(
        "/sparql",
        content=text.encode("utf-8", "surrogatepass"),
        headers={
            "Content-Type": "application/sparql-query; charset=utf-8",
            "Accept": "application/sparql-results+json",
        },
    )
    assert response.status_code == int(expect[0]), response.text
    if response.status_code >= 400:
        body = response.json()
        assert not LEAKS.search(body["message"]), body
        if len(expect) > 1:
            assert body["error"] == expect[1], body
    assert c.get("/sparql", params={"query": "ASK {}"}).status_code == 200  # still serving
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT pg_postmaster_start_time()")).scalar() == started
