"""API keys of the HTTP service (esdl.api.auth.keys) against the real catalogue database of the suite: create,
check, revoke, the cache's revocation time, the same comparison for an unknown key id, the database down, and the
read-only role kept away from the hashes."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Any

import psycopg.errors
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from esdl.api.auth import Authenticator, AuthSettings, AuthUnavailable, Permission, Principal
from esdl.api.auth import keys as keystore
from esdl.api.auth.keys import KeyChecker, check_key, create_key, list_keys, revoke_key
from esdl_testing.auth import Clock, assert_invalid_token, bearer, make_app
from semantic.store.db import make_engine
from semantic.store.roles import ensure_reader


def key_client(
    engine: sa.Engine | None, clock: Clock | None = None, **changes: Any
) -> tuple[TestClient, Authenticator]:
    settings = AuthSettings(_env_file=None, **changes)  # type: ignore[call-arg]
    checker = KeyChecker(engine, settings.key_cache_s, clock=clock or Clock())
    auth = Authenticator(settings, engine, keys=checker)
    return TestClient(make_app(auth)), auth


def test_api_key_create_check_revoke(catalog_engine: sa.Engine) -> None:
    record, plaintext = create_key(catalog_engine, "nightly pipeline", "run")
    assert keystore.KEY_PATTERN.fullmatch(plaintext) and record.key_id in plaintext
    assert record.permission is Permission.RUN and record.revoked is None
    principal = check_key(catalog_engine, plaintext)
    assert principal == Principal(f"key:{record.key_id}", Permission.RUN, "key", "nightly pipeline")
    [listed] = list_keys(catalog_engine)
    assert listed.key_id == record.key_id and listed.last_used is not None
    with catalog_engine.connect() as conn:  # only the hash is kept
        stored = conn.execute(sa.select(keystore.api_key.c.secret_sha256)).scalar_one()
    assert bytes(stored) == hashlib.sha256(plaintext.encode()).digest()
    assert plaintext.encode() not in bytes(stored)

    revoked = revoke_key(catalog_engine, record.key_id)
    assert revoked is not None and revoked.revoked is not None
    assert check_key(catalog_engine, plaintext) is None
    assert revoke_key(catalog_engine, record.key_id) == revoked  # idempotent: the first revocation stays
    assert revoke_key(catalog_engine, "000000000000") is None


def test_api_keys_through_the_app(catalog_engine: sa.Engine) -> None:
    _, runner = create_key(catalog_engine, "runner", Permission.RUN)
    _, reader = create_key(catalog_engine, "reader", Permission.READ)
    client, _auth = key_client(catalog_engine)
    with client:
        assert client.post("/run", headers={"X-API-Key": runner}).json()["via"] == "key"
        assert client.post("/run", headers=bearer(runner)).status_code == 200
        assert client.post("/run", headers={**bearer(runner), "X-API-Key": runner}).status_code == 200
        assert client.post("/run", headers={"X-API-Key": reader}).status_code == 403
        assert client.get("/read", headers={"X-API-Key": reader}).status_code == 200
        wrong = runner[:-4] + ("AAAA" if not runner.endswith("AAAA") else "BBBB")
        for bad in (wrong, "esdl_" + "0" * 12 + "_" + "A" * 43, "esdl_nonsense"):
            response = client.post("/run", headers={"X-API-Key": bad})
            assert_invalid_token(response)
            assert response.json()["message"] == "invalid credentials"  # the same, whatever is wrong


def test_revoked_key_stops_within_the_cache_time(catalog_engine: sa.Engine) -> None:
    record, plaintext = create_key(catalog_engine, "ci", "admin")
    clock = Clock()
    client, auth = key_client(catalog_engine, clock, key_cache_s=30)
    with client:
        assert client.post("/run", headers={"X-API-Key": plaintext}).status_code == 200
        revoke_key(catalog_engine, record.key_id)  # as `esdl keys revoke` does, from another process
        clock.now += 10
        assert client.post("/run", headers={"X-API-Key": plaintext}).status_code == 200  # still cached
        clock.now += 21
        assert client.post("/run", headers={"X-API-Key": plaintext}).status_code == 401
        # revoked through the server's own checker: refused at once
        other, second = create_key(catalog_engine, "ci-2", "run")
        assert client.post("/run", headers={"X-API-Key": second}).status_code == 200
        auth.keys.revoke(other.key_id)
        assert client.post("/run", headers={"X-API-Key": second}).status_code == 401


def test_unknown_key_id_is_compared_like_a_known_one(
    catalog_engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    record, plaintext = create_key(catalog_engine, "probe", "read")
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def counting(a: Any, b: Any) -> bool:
        compared.append((bytes(a), bytes(b)))
        return real(a, b)

    monkeypatch.setattr(keystore.hmac, "compare_digest", counting)
    secret_part = plaintext.split("_", 2)[2]
    cases = {
        "unknown key id": "esdl_" + ("0" * 12 if record.key_id != "0" * 12 else "1" * 12) + "_" + secret_part,
        "wrong secret": plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B"),
    }
    for what, presented in cases.items():
        compared.clear()
        assert check_key(catalog_engine, presented) is None, what
        assert len(compared) == 1, what
        assert len(compared[0][0]) == len(compared[0][1]) == 32, what
    revoke_key(catalog_engine, record.key_id)
    compared.clear()
    assert check_key(catalog_engine, plaintext) is None and len(compared) == 1
    # a cached key compared with another secret goes to the database like any other guess
    compared.clear()
    assert KeyChecker(catalog_engine).check(cases["wrong secret"]) is None and len(compared) == 1


def test_key_names_and_permissions_are_checked(catalog_engine: sa.Engine) -> None:
    for name, permission in [("", "run"), ("x" * 101, "run"), ("bell\a", "run"), ("ok", "root")]:
        with pytest.raises(ValueError):
            create_key(catalog_engine, name, permission)
    assert list_keys(catalog_engine) == []


def test_database_down_is_503_never_open() -> None:
    engine = make_engine("postgresql://nobody:x@127.0.0.1:1/none")
    with pytest.raises(AuthUnavailable):
        check_key(engine, "esdl_" + "0" * 12 + "_" + "A" * 43)
    client, _auth = key_client(engine)
    with client:
        response = client.post("/run", headers={"X-API-Key": "esdl_" + "0" * 12 + "_" + "A" * 43})
        assert response.status_code == 503 and response.json()["error"] == "auth-unavailable"
        # a malformed key needs no database: refused as invalid
        assert client.post("/run", headers={"X-API-Key": "nonsense"}).status_code == 401
    engine.dispose()


def test_the_read_only_role_cannot_see_the_keys(catalog_engine: sa.Engine) -> None:
    create_key(catalog_engine, "secret", "admin")
    ensure_reader(catalog_engine, "esdl_auth_test_reader", None, member=True)
    with catalog_engine.connect() as conn:
        privileges = conn.execute(
            sa.text(
                "SELECT has_schema_privilege('esdl_auth_test_reader', 'esdl_auth', 'USAGE'), "
                "has_table_privilege('esdl_auth_test_reader', 'esdl_auth.api_key', 'SELECT')"
            )
        ).one()
        assert tuple(privileges) == (False, False)
        conn.execute(sa.text("SET ROLE esdl_auth_test_reader"))
        with pytest.raises(sa.exc.ProgrammingError) as denied:
            conn.execute(sa.text("SELECT secret_sha256 FROM esdl_auth.api_key"))
        assert isinstance(denied.value.orig, psycopg.errors.InsufficientPrivilege)
        conn.rollback()
    # and no R2RML mapping (what SPARQL can reach) names the table or its schema
    mappings = Path(__file__).resolve().parents[2] / "semantic" / "mappings"
    for mapping in mappings.glob("*.ttl"):
        text = mapping.read_text()
        assert "api_key" not in text and "esdl_auth" not in text, mapping


def test_reads_closed_need_the_read_permission_on_every_reading_route(catalog_engine: sa.Engine) -> None:
    """The service's own app with ESDL_AUTH_REQUIRE_READ=true: /sparql, /stac and the processes' reading routes
    answer 401 without a credential and 200 with a `read` key; /metrics is not behind credentials. With reads
    open (the default) the same routes answer anonymously, and a bad credential is still 401."""
    from fastapi.testclient import TestClient

    from esdl.api.app import create_app
    from esdl.api.auth import Authenticator, AuthSettings
    from esdl.api.settings import SparqlSettings

    _, reader = create_key(catalog_engine, "reader", "read")
    paths = ["/sparql?query=ASK%7B%7D", "/sparql/description", "/stac"]
    for closed in (True, False):
        auth = Authenticator(AuthSettings(_env_file=None, require_read=closed), catalog_engine)  # type: ignore[call-arg]
        app = create_app(SparqlSettings(_env_file=None), engine=catalog_engine, auth=auth)  # type: ignore[call-arg]
        with TestClient(app) as client:
            for path in paths:
                anonymous = client.get(path)
                assert anonymous.status_code == (401 if closed else 200), (closed, path, anonymous.text[:200])
                assert client.get(path, headers={"X-API-Key": reader}).status_code == 200, path
                assert client.get(path, headers={"X-API-Key": "esdl_000000000000_" + "x" * 43}).status_code == 401
            assert client.get("/metrics").status_code == 200
        auth.close()
