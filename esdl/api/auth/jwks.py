"""The OIDC issuer's signing keys (JWKS), fetched over HTTP and kept for ``jwks_cache_s``.

- The keys' URL is ``ESDL_AUTH_JWKS_URL``, or the ``jwks_uri`` of ``{issuer}/.well-known/openid-configuration``
  (discovered once; the document must name the same issuer).
- Keys older than ``jwks_cache_s`` are fetched again on the next use (a failed fetch is retried at most every
  ``jwks_min_refetch_s``). A token whose ``kid`` is not among the keys makes one refetch (the issuer may have
  rotated its keys), and such refetches too happen at most every ``jwks_min_refetch_s``: a flood of tokens with
  made-up ``kid`` values is refused without a flood of fetches.
- When the endpoint is down, the keys fetched before keep working. With no keys at all (never fetched, or an
  empty set) every token is refused with :class:`~esdl.api.auth.errors.AuthUnavailable` (503): closed, not open.

Fetches block (``httpx``, a short timeout) and are serialised by a lock; :meth:`JwksCache.fresh` never does I/O,
so the common case (a known, fresh key) costs a dictionary lookup.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from jwt import PyJWK
from jwt.exceptions import PyJWKError

from esdl.api.auth.errors import AuthUnavailable, InvalidCredentials
from esdl.api.auth.settings import AuthSettings, check_url

LOG = logging.getLogger("esdl.api.auth")
MAX_DOCUMENT_BYTES = 1_048_576
# the key type each algorithm family verifies with; "oct" (symmetric) is never used
KEY_TYPES = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}


def key_type(alg: str) -> str | None:
    """The JWK ``kty`` that verifies signatures of algorithm ``alg`` (``None``: none we accept)."""
    return KEY_TYPES.get(alg[:2])


def _usable(jwk: dict[str, Any], alg: str) -> bool:
    """Whether ``jwk`` may verify a signature made with ``alg``: the right key type, for signatures, and not bound
    to another algorithm."""
    return jwk.get("kty") == key_type(alg) and jwk.get("use", "sig") == "sig" and jwk.get("alg", alg) == alg


@dataclass
class _KeySet:
    """One fetch's keys, replaced as a whole so that a reader never mixes two fetches."""

    keys: tuple[dict[str, Any], ...] = ()
    fetched_at: float | None = None
    built: dict[tuple[str | None, str], PyJWK] = field(default_factory=dict)

    def select(self, kid: str | None, alg: str) -> PyJWK | None:
        """The key for ``kid`` (``None``: the only usable one) that verifies ``alg``, if there is one."""
        built = self.built.get((kid, alg))
        if built is not None:
            return built
        candidates = [k for k in self.keys if _usable(k, alg) and (kid is None or k.get("kid") == kid)]
        if not candidates or (kid is None and len(candidates) > 1):
            return None  # without a kid, only an unambiguous key set will do
        try:
            built = PyJWK(candidates[0], algorithm=alg)
        except PyJWKError as err:
            LOG.warning("signing key %r cannot be used: %s", kid, err)
            return None
        self.built[(kid, alg)] = built
        return built


class JwksCache:
    """The issuer's public keys, by ``kid``.

    Args:
        settings: The issuer, the keys' URL and the cache times.
        clock: Monotonic seconds (tests pass a fake one).
        transport: An ``httpx`` transport (tests); default: the network.
    """

    def __init__(
        self,
        settings: AuthSettings,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if settings.issuer is None:
            raise ValueError("a JWKS cache needs an issuer (ESDL_AUTH_ISSUER)")
        self._settings = settings
        self._issuer = settings.issuer
        self._clock = clock
        self._client = httpx.Client(timeout=settings.jwks_timeout_s, transport=transport, follow_redirects=False)
        self._jwks_url = settings.jwks_url
        self._lock = threading.Lock()
        self._set = _KeySet()  # the last successful fetch
        self._attempted_at: float | None = None  # last fetch tried, successful or not
        self._refetched_at: float | None = None  # last fetch made for an unknown kid
        self.fetches = 0
        """How many times the keys were requested from the endpoint (successfully or not)."""

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()

    def fresh(self, kid: str | None, alg: str) -> PyJWK | None:
        """The key for ``kid`` and ``alg`` if the keys are fresh and hold it; no I/O (``None``: call :meth:`key`)."""
        current = self._set
        if current.fetched_at is None or self._clock() - current.fetched_at >= self._settings.jwks_cache_s:
            return None
        return current.select(kid, alg)

    def key(self, kid: str | None, alg: str) -> PyJWK:
        """The key for ``kid`` and ``alg``, fetching the keys if they are stale or lack it (rate-limited).

        Raises:
            InvalidCredentials: No such key, even after a refetch (or a refetch was made too recently).
            AuthUnavailable: There are no keys at all: never fetched, or the issuer publishes none.
        """
        with self._lock:
            tried = False
            now = self._clock()
            fetched = self._set.fetched_at
            stale = fetched is None or now - fetched >= self._settings.jwks_cache_s
            if stale and self._allowed(self._attempted_at, now):
                self._refresh(now)
                tried = True
            found = self._set.select(kid, alg)
            if found is None and not tried and self._allowed(self._refetched_at, now):
                # an unknown kid: the issuer may have rotated its keys since the last fetch
                self._refetched_at = now
                self._refresh(now)
                found = self._set.select(kid, alg)
            if found is not None:
                return found
            if not self._set.keys:
                raise AuthUnavailable("the identity provider's signing keys cannot be fetched; try again later")
            raise InvalidCredentials("the token's signing key is not one of the issuer's keys")

    def _allowed(self, last: float | None, now: float) -> bool:
        """Whether a fetch last made at ``last`` may be made again (rate limit)."""
        return last is None or now - last >= self._settings.jwks_min_refetch_s

    def _refresh(self, now: float) -> None:
        """Fetch the keys; on failure keep the ones there are (and log why)."""
        self._attempted_at = now
        self.fetches += 1
        try:
            keys = self._fetch()
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as err:
            kept = len(self._set.keys)
            LOG.warning("cannot fetch the signing keys of %s: %s; keeping the %d there are", self._issuer, err, kept)
            return
        self._set = _KeySet(keys, now)

    def _get_json(self, url: str) -> dict[str, Any]:
        response = self._client.get(url, headers={"Accept": "application/json"})
        response.raise_for_status()
        if len(response.content) > MAX_DOCUMENT_BYTES:
            raise ValueError(f"{url} answered more than {MAX_DOCUMENT_BYTES} bytes")
        document = response.json()
        if not isinstance(document, dict):
            raise ValueError(f"{url} did not answer a JSON object")
        return document

    def _fetch(self) -> tuple[dict[str, Any], ...]:
        if self._jwks_url is None:
            self._jwks_url = self._discover()
        keys = self._get_json(self._jwks_url)["keys"]
        if not isinstance(keys, list):
            raise ValueError("the JWKS's `keys` is not a list")
        return tuple(k for k in keys if isinstance(k, dict))

    def _discover(self) -> str:
        """The ``jwks_uri`` of the issuer's OpenID configuration (which must name this issuer)."""
        document = self._get_json(self._issuer.rstrip("/") + "/.well-known/openid-configuration")
        if str(document.get("issuer", "")).rstrip("/") != self._issuer.rstrip("/"):
            raise ValueError(f"the OpenID configuration names issuer {document.get('issuer')!r}, not {self._issuer!r}")
        return check_url(str(document["jwks_uri"]), "the discovered jwks_uri")
