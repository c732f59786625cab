"""``esdl keys``: API keys for machines calling the HTTP service (``esdl serve``), kept hashed in the catalogue."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.table import Table

from esdl.cli.root import console, fail, guard, main

if TYPE_CHECKING:
    import sqlalchemy as sa


def _engine() -> sa.Engine:
    """The catalogue as its owner (the local cluster, started and migrated on demand, or ESDL_DATABASE_URL)."""
    from semantic.store.db import open_catalog

    return open_catalog()


@main.group()
def keys() -> None:
    """API keys for the HTTP service: create (shown once), list, revoke."""


@keys.command("create")
@click.argument("name")
@click.option("--permission", metavar="read|run|admin", help="What the key allows (admin > run > read); required.")
@guard
def keys_create(name: str, permission: str | None) -> None:
    """Create a key named NAME; prints the key once on stdout (only its hash is kept)."""
    from esdl.api.auth.keys import create_key
    from esdl.api.auth.principal import Permission

    if permission is None:
        fail("--permission is required: read, run or admin")
    try:
        level = Permission.parse(permission)
    except ValueError as err:
        fail(str(err))
    engine = _engine()
    try:
        record, plaintext = create_key(engine, name, level)
    except ValueError as err:
        fail(str(err))
    finally:
        engine.dispose()
    click.echo(plaintext)
    console.print(
        f"created API key {record.key_id} ({record.name!r}, {record.permission.label}); it is not shown again: "
        "store it now",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@guard
def keys_list(as_json: bool) -> None:
    """List the keys (never their secrets), revoked ones too."""
    from esdl.api.auth.keys import list_keys

    engine = _engine()
    try:
        records = list_keys(engine)
    finally:
        engine.dispose()
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in records], indent=1))
        return
    table = Table("key id", "name", "permission", "created", "revoked", "last used", title="API keys")
    for record in records:
        row = record.as_dict()
        table.add_row(*("—" if row[c] is None else str(row[c]) for c in row))
    Console(width=200).print(table)


@keys.command("revoke")
@click.argument("key_id")
@guard
def keys_revoke(key_id: str) -> None:
    """Revoke the key KEY_ID (servers caching it refuse it within ESDL_AUTH_KEY_CACHE_S, 30 s by default)."""
    from esdl.api.auth.keys import revoke_key

    engine = _engine()
    try:
        record = revoke_key(engine, key_id)
    finally:
        engine.dispose()
    if record is None or record.revoked is None:
        fail(f"no API key {key_id!r}")
    click.echo(f"API key {record.key_id} ({record.name!r}) revoked (since {record.revoked.isoformat()})")
