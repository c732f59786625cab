"""Who made a request (:class:`Principal`) and what it may do (:class:`Permission`)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Literal


class Permission(enum.IntEnum):
    """What a credential allows, ordered: ``admin`` implies ``run``, which implies ``read``."""

    READ = 1
    RUN = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        """The lower-case name used in settings, the database and the command line (``read``, ``run``, ``admin``)."""
        return self.name.lower()

    @classmethod
    def parse(cls, value: Permission | str) -> Permission:
        """The permission named ``value`` (case-insensitive).

        Raises:
            ValueError: Not one of ``read``, ``run``, ``admin``.
        """
        if isinstance(value, Permission):
            return value
        try:
            return cls[value.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown permission {value!r}: one of read, run, admin") from None


@dataclass(frozen=True)
class Principal:
    """An authenticated caller.

    Attributes:
        subject: Who it is: the token's ``sub`` (or ``azp``/``client_id``), or ``key:<key id>`` for an API key.
        permission: The highest permission granted; ``None`` for a valid token that carries none of the
            configured scopes (it may still read where reading is open).
        via: ``"oidc"`` for a bearer JWT, ``"key"`` for an API key.
        name: A label for logs: the API key's name, or the token's subject.
        scopes: The scopes and roles found in the token (empty for API keys).
    """

    subject: str
    permission: Permission | None
    via: Literal["oidc", "key"]
    name: str = ""
    scopes: frozenset[str] = field(default_factory=frozenset)

    def allows(self, needed: Permission) -> bool:
        """Whether this principal's permission is ``needed`` or higher."""
        return self.permission is not None and self.permission >= needed
