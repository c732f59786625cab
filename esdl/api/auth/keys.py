"""API keys for machines, kept hashed in the catalogue database (table ``esdl_auth.api_key``).

A key reads ``esdl_<key id>_<secret>``: the key id (12 hex digits) is how it is found, the secret (32 random bytes,
base64url) is what proves it. Only the key's SHA-256 is stored, and the plaintext is shown once, at creation. A
fast hash is enough here: a slow one (bcrypt, scrypt) protects guessable passwords, while guessing 256 random
bits is hopeless at any speed.

The table is in schema ``esdl_auth``, not ``public``: the read-only role of the SPARQL endpoint (``esdl_reader``,
which gets ``SELECT`` on ``public``) has no ``USAGE`` on it, and no R2RML mapping names it, so no query can reach
the hashes. The engine given here must be the catalogue owner's (as ``esdl db upgrade`` uses), not the reader's.

Checking a key takes as long whether its key id exists or not: an unknown key id is compared against a dummy hash
with the same :func:`hmac.compare_digest`. A malformed key (not the format above) is refused at once; the format
is public, so that says nothing about which keys exist.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg.errors
import sqlalchemy as sa

from esdl.api.auth.errors import AuthUnavailable
from esdl.api.auth.principal import Permission, Principal
from semantic.errors import DatabaseError

LOG = logging.getLogger("esdl.api.auth")
SCHEMA = "esdl_auth"
PREFIX = "esdl_"
KEY_PATTERN = re.compile(r"esdl_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")
"""What a key looks like: the prefix, the key id, the secret (``secrets.token_urlsafe(32)``)."""
MAX_NAME = 100

metadata = sa.MetaData(schema=SCHEMA)
api_key = sa.Table(
    "api_key",
    metadata,
    sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
    sa.Column("key_id", sa.Text(), nullable=False, unique=True),
    sa.Column("secret_sha256", sa.LargeBinary(), nullable=False),
    sa.Column("name", sa.Text(), nullable=False),
    sa.Column("permission", sa.Text(), nullable=False),
    sa.Column("created", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("revoked", sa.DateTime(timezone=True)),
    sa.Column("last_used", sa.DateTime(timezone=True)),
)
"""The table, as migration ``0012`` creates it."""

# compared against when the key id is unknown, so that both paths do the same work
_DUMMY = hashlib.sha256(b"esdl: no API key has this key id").digest()


@dataclass(frozen=True)
class ApiKey:
    """An API key as stored (never its secret)."""

    key_id: str
    name: str
    permission: Permission
    created: dt.datetime
    revoked: dt.datetime | None = None
    last_used: dt.datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view (ISO timestamps)."""

        def iso(value: dt.datetime | None) -> str | None:
            return None if value is None else value.isoformat()

        return {
            "key_id": self.key_id,
            "name": self.name,
            "permission": self.permission.label,
            "created": iso(self.created),
            "revoked": iso(self.revoked),
            "last_used": iso(self.last_used),
        }


def _record(row: Any) -> ApiKey:
    return ApiKey(row.key_id, row.name, Permission.parse(row.permission), row.created, row.revoked, row.last_used)


def key_id_of(presented: str) -> str | None:
    """The key id of a well-formed key (``None``: not an esdl API key)."""
    match = KEY_PATTERN.fullmatch(presented)
    return None if match is None else match.group(1)


def digest(presented: str) -> bytes:
    """The SHA-256 of the whole key, as stored."""
    return hashlib.sha256(presented.encode("ascii")).digest()


@contextmanager
def _database(what: str) -> Iterator[None]:
    try:
        yield
    except sa.exc.SQLAlchemyError as err:
        raise DatabaseError(f"cannot {what}: {getattr(err, 'orig', None) or err}") from err


def _checked_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME or not name.isprintable():
        raise ValueError(f"a key's name must be 1 to {MAX_NAME} printable characters")
    return name


def create_key(engine: sa.Engine, name: str, permission: Permission | str) -> tuple[ApiKey, str]:
    """Create a key; the plaintext is returned here and never again.

    Raises:
        ValueError: An empty or overlong name, or an unknown permission.
        DatabaseError: The database refused.
    """
    name, level = _checked_name(name), Permission.parse(permission)
    with _database("create the API key"):
        for _attempt in range(3):  # 48-bit key ids: a collision is unlikely, and retried
            key_id = secrets.token_hex(6)
            plaintext = f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
            values = {"key_id": key_id, "secret_sha256": digest(plaintext), "name": name, "permission": level.label}
            try:
                with engine.begin() as conn:
                    row = conn.execute(sa.insert(api_key).values(values).returning(*api_key.c)).one()
            except sa.exc.IntegrityError as err:
                if not isinstance(err.orig, psycopg.errors.UniqueViolation):
                    raise
                continue
            return _record(row), plaintext
    raise DatabaseError("cannot create the API key: three key ids in a row were taken")


def list_keys(engine: sa.Engine) -> list[ApiKey]:
    """Every key, revoked ones too, oldest first."""
    with _database("list the API keys"), engine.connect() as conn:
        rows = conn.execute(sa.select(api_key).order_by(api_key.c.created, api_key.c.id)).all()
    return [_record(row) for row in rows]


def revoke_key(engine: sa.Engine, key_id: str) -> ApiKey | None:
    """Revoke the key ``key_id`` (already revoked: left as it was); its record, or ``None`` if there is none.

    A server that cached the key (``ESDL_AUTH_KEY_CACHE_S``) refuses it within that time.
    """
    table = api_key.c
    with _database("revoke the API key"), engine.begin() as conn:
        conn.execute(
            sa.update(api_key).where(table.key_id == key_id, table.revoked.is_(None)).values(revoked=sa.func.now())
        )
        row = conn.execute(sa.select(api_key).where(table.key_id == key_id)).first()
    return None if row is None else _record(row)


def check_key(engine: sa.Engine, presented: str) -> Principal | None:
    """The principal of a valid, unrevoked key; ``None`` for any other key (unknown, wrong secret, revoked,
    malformed), without saying which. Records ``last_used`` (best effort).

    Raises:
        AuthUnavailable: The database cannot be asked (the key is refused, never let through).
    """
    key_id = key_id_of(presented)
    if key_id is None:
        return None
    presented_digest = digest(presented)
    query = sa.select(api_key.c.secret_sha256, api_key.c.name, api_key.c.permission, api_key.c.revoked)
    try:
        with engine.connect() as conn:
            row = conn.execute(query.where(api_key.c.key_id == key_id)).first()
    except sa.exc.SQLAlchemyError as err:
        LOG.error("cannot check an API key: %s", getattr(err, "orig", None) or err)
        raise AuthUnavailable() from err
    stored = _DUMMY if row is None else bytes(row.secret_sha256)
    matches = hmac.compare_digest(presented_digest, stored)
    if row is None or not matches or row.revoked is not None:
        return None
    try:
        with engine.begin() as conn:
            conn.execute(sa.update(api_key).where(api_key.c.key_id == key_id).values(last_used=sa.func.now()))
    except sa.exc.SQLAlchemyError as err:  # a read-only replica, say: the key is still good
        LOG.warning("cannot record the use of API key %s: %s", key_id, getattr(err, "orig", None) or err)
    return Principal(subject=f"key:{key_id}", permission=Permission.parse(row.permission), via="key", name=row.name)


@dataclass(frozen=True)
class _Verified:
    digest: bytes
    principal: Principal
    until: float


class KeyChecker:
    """:func:`check_key` with the keys verified in the last ``cache_s`` seconds kept in memory.

    A cached key is accepted only with the very same secret (its digest is compared); any other attempt goes to
    the database like an unknown key, so the cache does not make wrong guesses faster for known key ids. A key
    revoked through another process (``esdl keys revoke``) is refused here within ``cache_s``; one revoked
    through :meth:`revoke` at once.

    Args:
        engine: The catalogue owner's engine (``None``: no key store; every key is refused).
        cache_s: How long a verified key is trusted (0: never cached).
        clock: Monotonic seconds (tests pass a fake one).
        max_entries: Most keys kept; the oldest are dropped first.
    """

    def __init__(
        self,
        engine: sa.Engine | None,
        cache_s: float = 30,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = 4096,
    ) -> None:
        self.engine = engine
        self._cache_s = cache_s
        self._clock = clock
        self._max = max_entries
        self._verified: dict[str, _Verified] = {}
        self._lock = threading.Lock()

    def cached(self, presented: str) -> Principal | None:
        """The principal of a key verified within ``cache_s`` with this same secret; no I/O."""
        key_id = key_id_of(presented)
        entry = None if key_id is None else self._verified.get(key_id)
        if entry is None or self._clock() >= entry.until:
            return None
        return entry.principal if hmac.compare_digest(digest(presented), entry.digest) else None

    def check(self, presented: str) -> Principal | None:
        """The principal of a valid key (from memory or the database); ``None`` for any other.

        Raises:
            AuthUnavailable: The database cannot be asked.
        """
        found = self.cached(presented)
        if found is not None:
            return found
        key_id = key_id_of(presented)
        if self.engine is None or key_id is None:
            return None
        principal = check_key(self.engine, presented)
        with self._lock:
            if principal is None:
                self._verified.pop(key_id, None)
            elif self._cache_s > 0:
                while len(self._verified) >= self._max:
                    self._verified.pop(next(iter(self._verified)))
                self._verified[key_id] = _Verified(digest(presented), principal, self._clock() + self._cache_s)
        return principal

    def revoke(self, key_id: str) -> ApiKey | None:
        """Revoke ``key_id`` in the database and forget it here at once (see :func:`revoke_key`)."""
        if self.engine is None:
            return None
        record = revoke_key(self.engine, key_id)
        with self._lock:
            self._verified.pop(key_id, None)
        return record
