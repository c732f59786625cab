"""Bearer JWTs from the OIDC issuer: checking one (PyJWT), and what its scopes allow.

The algorithm is never the token's choice: the header's ``alg`` must be one of ``ESDL_AUTH_ALGORITHMS`` (which
holds asymmetric algorithms only), the key must be of that algorithm's type, and PyJWT verifies with the key
bound to that algorithm. So ``alg: none`` and an HS256 token "signed" with the public key are refused.
``exp``, ``iss`` and ``aud`` are required; ``exp``, ``nbf`` and ``iat`` are checked with ``leeway_s``.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import jwt
from jwt import PyJWK

from esdl.api.auth.errors import InvalidCredentials
from esdl.api.auth.principal import Permission, Principal
from esdl.api.auth.settings import AuthSettings

_MESSAGES: list[tuple[type[Exception], str]] = [
    (jwt.ExpiredSignatureError, "the token has expired"),
    (jwt.ImmatureSignatureError, "the token is not valid yet"),
    (jwt.InvalidAudienceError, "the token is not for this service (audience)"),
    (jwt.InvalidIssuerError, "the token is not from the configured issuer"),
    (jwt.MissingRequiredClaimError, "the token lacks a required claim"),
    (jwt.InvalidSignatureError, "the token's signature is not valid"),
    (jwt.InvalidAlgorithmError, "the token's algorithm is not accepted"),
]


def token_header(token: str, settings: AuthSettings) -> tuple[str, str | None]:
    """The token's algorithm and key id (unverified), once the algorithm is known to be one accepted.

    Raises:
        InvalidCredentials: Not a JWT, or an algorithm not in ``settings.algorithms`` (``none``, HS256, ...).
    """
    try:
        header = jwt.get_unverified_header(token)
    except jwt.DecodeError:
        raise InvalidCredentials("the token is not a valid JWT") from None
    alg, kid = header.get("alg"), header.get("kid")
    if not isinstance(alg, str) or alg not in settings.algorithms:
        raise InvalidCredentials("the token's algorithm is not accepted")
    if kid is not None and not isinstance(kid, str):
        raise InvalidCredentials("the token's key id is not a string")
    return alg, kid


def decode_token(token: str, key: PyJWK, settings: AuthSettings) -> dict[str, Any]:
    """The claims of ``token`` once its signature and its ``iss``, ``aud``, ``exp``, ``nbf`` and ``iat`` hold.

    Raises:
        InvalidCredentials: Any of them does not (the message says which, as far as it is no secret).
    """
    try:
        claims = jwt.decode(
            token,
            key=key,
            algorithms=[key.algorithm_name],
            audience=settings.audience,
            issuer=settings.issuer,
            leeway=settings.leeway_s,
            options={"require": ["exp", "iss", "aud"], "enforce_minimum_key_length": True},
        )
    except jwt.PyJWTError as err:
        message = next((text for kind, text in _MESSAGES if isinstance(err, kind)), "the token is not valid")
        raise InvalidCredentials(message) from None
    return claims


def _claim(claims: Mapping[str, Any], path: str) -> Any:
    """The claim ``path``: a top-level claim of that exact name (``https://example.org/roles``), else a dotted path
    into nested objects (``realm_access.roles``)."""
    if path in claims:
        return claims[path]
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def scopes_of(claims: Mapping[str, Any], paths: Iterable[str]) -> frozenset[str]:
    """Every scope or role in the claims ``paths``: space-separated strings and lists of strings."""
    found: set[str] = set()
    for path in paths:
        value = _claim(claims, path)
        if isinstance(value, str):
            found.update(value.split())
        elif isinstance(value, list):
            found.update(v for v in value if isinstance(v, str))
    return frozenset(found)


def permission_of(scopes: frozenset[str], settings: AuthSettings) -> Permission | None:
    """The highest permission the scopes grant (``None``: none of the configured scopes)."""
    for permission, granting in (
        (Permission.ADMIN, settings.admin_scopes),
        (Permission.RUN, settings.run_scopes),
        (Permission.READ, settings.read_scopes),
    ):
        if scopes.intersection(granting):
            return permission
    return None


def principal_of(claims: Mapping[str, Any], settings: AuthSettings) -> Principal:
    """The principal of a verified token: its subject (``sub``, else ``azp`` or ``client_id``) and permission."""
    subject = next((str(claims[c]) for c in ("sub", "azp", "client_id") if claims.get(c)), "")
    scopes = scopes_of(claims, settings.scope_claims)
    return Principal(
        subject=subject, permission=permission_of(scopes, settings), via="oidc", name=subject, scopes=scopes
    )


class TokenCache:
    """Principals of tokens verified in the last ``cache_s`` seconds, by the token's SHA-256, so that a client that
    sends the same token again is not verified again (a signature check costs about 0.1 ms).

    An entry lasts ``cache_s`` at most and never past the token's ``exp``. A key the issuer withdraws from its JWKS
    therefore stops being honoured, for tokens already seen, within ``cache_s`` (0: no cache).
    """

    def __init__(self, cache_s: float = 60, clock: Callable[[], float] = time.time, max_entries: int = 4096) -> None:
        self._cache_s = cache_s
        self._clock = clock
        self._max = max_entries
        self._entries: dict[bytes, tuple[Principal, float]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(token: str) -> bytes:
        return hashlib.sha256(token.encode()).digest()

    def get(self, token: str) -> Principal | None:
        """The principal of ``token`` if it was verified recently and has not expired since."""
        entry = self._entries.get(self._key(token))
        if entry is None or self._clock() >= entry[1]:
            return None
        return entry[0]

    def put(self, token: str, claims: Mapping[str, Any], principal: Principal) -> None:
        """Remember a verified token until ``exp`` or for ``cache_s``, whichever is sooner."""
        if self._cache_s <= 0:
            return
        until = min(self._clock() + self._cache_s, float(claims["exp"]))
        with self._lock:
            while len(self._entries) >= self._max:
                self._entries.pop(next(iter(self._entries)))
            self._entries[self._key(token)] = (principal, until)
