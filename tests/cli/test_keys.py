"""``esdl keys create/list/revoke`` against a fresh catalogue database (``ESDL_DATABASE_URL`` from ``catalog_url``)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner, Result

from esdl.api.auth.keys import KEY_PATTERN, check_key
from esdl.api.auth.principal import Permission
from esdl.cli import main
from semantic.store.db import make_engine


def esdl(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def test_create_list_revoke(catalog_url: str) -> None:
    created = esdl("keys", "create", "nightly pipeline", "--permission", "run")
    assert created.exit_code == 0, created.output
    plaintext = created.stdout.strip()
    match = KEY_PATTERN.fullmatch(plaintext)
    assert match is not None and created.stdout == plaintext + "\n"  # the key alone on stdout, for scripts
    key_id = match.group(1)
    assert "not shown again" in created.stderr and plaintext not in created.stderr

    engine = make_engine(catalog_url)
    try:
        principal = check_key(engine, plaintext)
        assert principal is not None and principal.permission is Permission.RUN

        listed = esdl("keys", "list", "--json")
        assert listed.exit_code == 0, listed.output
        [row] = json.loads(listed.stdout)
        assert row["key_id"] == key_id and row["name"] == "nightly pipeline" and row["permission"] == "run"
        assert row["revoked"] is None and plaintext.split("_")[2] not in listed.stdout
        table = esdl("keys", "list")
        assert table.exit_code == 0 and key_id in table.stdout and plaintext not in table.stdout

        revoked = esdl("keys", "revoke", key_id)
        assert revoked.exit_code == 0, revoked.output
        assert key_id in revoked.stdout and "revoked" in revoked.stdout
        assert check_key(engine, plaintext) is None
        assert json.loads(esdl("keys", "list", "--json").stdout)[0]["revoked"] is not None
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["create", "x", "--permission", "root"], "unknown permission 'root'"),
        (["create", "x"], "--permission is required"),
        (["create", "   ", "--permission", "read"], "printable characters"),
        (["revoke", "000000000000"], "no API key '000000000000'"),
    ],
)
def test_bad_input_exits_2_with_one_line(catalog_url: str, args: list[str], says: str) -> None:
    result = esdl("keys", *args)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], result.stderr
    assert json.loads(esdl("keys", "list", "--json").stdout) == []
