"""Who is calling (:meth:`Authenticator.authenticate`) and whether they may (:meth:`Authenticator.require`).

Credentials, in ``Authorization: Bearer <token or key>`` or ``X-API-Key: <key>``: a value starting ``esdl_`` is an
API key (:mod:`esdl.api.auth.keys`), anything else a JWT of the OIDC issuer (:mod:`esdl.api.auth.tokens`). A
credential that is given is always checked, on open routes too: a bad one is 401, never quietly ignored.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import sqlalchemy as sa
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from esdl.api.auth.errors import Forbidden, InvalidCredentials, Unauthorized
from esdl.api.auth.jwks import JwksCache
from esdl.api.auth.keys import PREFIX, KeyChecker
from esdl.api.auth.principal import Permission, Principal
from esdl.api.auth.settings import AuthSettings
from esdl.api.auth.tokens import TokenCache, decode_token, principal_of, token_header

Dependency = Callable[[Request], Awaitable[Principal | None]]
"""What :meth:`Authenticator.require` returns: a FastAPI dependency (``Depends(auth.require("run"))``)."""


def _one_header(request: Request, name: str) -> str | None:
    values = request.headers.getlist(name)
    if not values:
        return None
    if len(values) > 1:
        raise InvalidCredentials(f"more than one {name} header")
    return values[0].strip()


class Authenticator:
    """Checks the credentials of requests.

    Args:
        settings: The issuer, the scopes and the cache times (``ESDL_AUTH_*``).
        engine: The catalogue owner's engine, where the API keys are (``None``: no API keys are accepted). Not the
            SPARQL endpoint's read-only engine: that role cannot read the keys.
        jwks: The issuer's keys (tests pass one with a fake clock); default: one for ``settings.issuer``, if set.
        keys: The API key checker (tests); default: one on ``engine`` caching for ``settings.key_cache_s``.
    """

    def __init__(
        self,
        settings: AuthSettings,
        engine: sa.Engine | None,
        *,
        jwks: JwksCache | None = None,
        keys: KeyChecker | None = None,
    ) -> None:
        self.settings = settings
        self.jwks = jwks if jwks is not None else JwksCache(settings) if settings.oidc else None
        self.keys = keys if keys is not None else KeyChecker(engine, settings.key_cache_s)
        self.tokens = TokenCache(settings.token_cache_s)

    def close(self) -> None:
        """Release the HTTP client of the JWKS fetches."""
        if self.jwks is not None:
            self.jwks.close()

    async def authenticate(self, request: Request) -> Principal | None:
        """The principal of the request's credential (also set as ``request.state.principal``); ``None`` if it has
        none.

        Raises:
            InvalidCredentials: A credential that is not valid, or two different ones (401).
            AuthUnavailable: It cannot be checked now: no signing keys, or the key store's database is down (503).
        """
        credential = self._credential(request)
        if credential is None:
            return None
        if credential.startswith(PREFIX):
            principal = await self._key(credential)
        else:
            principal = await self._token(credential)
        request.state.principal = principal
        return principal

    def require(self, permission: Permission | str) -> Dependency:
        """A FastAPI dependency that lets a request through with ``permission`` (or a higher one).

        It returns the :class:`Principal`, or ``None`` for an anonymous request to a ``read`` route while reading
        is open (``ESDL_AUTH_REQUIRE_READ=false``, the default). ``run`` and ``admin`` always need a credential.

        Raises:
            Unauthorized: No credential where one is needed, or an invalid one (401, ``WWW-Authenticate``).
            Forbidden: A valid credential with too low a permission (403).
            AuthUnavailable: Credentials cannot be checked now (503).
        """
        needed = Permission.parse(permission)
        anyone = needed is Permission.READ and not self.settings.require_read

        async def dependency(request: Request) -> Principal | None:
            principal = await self.authenticate(request)
            if principal is None:
                if anyone:
                    return None
                raise Unauthorized()
            if not anyone and not principal.allows(needed):
                raise Forbidden(needed.label)
            return principal

        dependency.__name__ = dependency.__qualname__ = f"require_{needed.label}"
        return dependency

    @staticmethod
    def _credential(request: Request) -> str | None:
        bearer = None
        authorization = _one_header(request, "authorization")
        if authorization is not None:
            scheme, _, value = authorization.partition(" ")
            if scheme.lower() == "bearer":  # other schemes (Basic for a proxy, say) are not ours
                bearer = value.strip()
                if not bearer:
                    raise InvalidCredentials("the bearer credential is empty")
        api_key = _one_header(request, "x-api-key")
        if api_key == "":
            raise InvalidCredentials("the X-API-Key header is empty")
        if bearer is not None and api_key is not None and bearer != api_key:
            raise InvalidCredentials("two different credentials: give either Authorization or X-API-Key")
        return bearer if bearer is not None else api_key

    async def _key(self, presented: str) -> Principal:
        principal = self.keys.cached(presented)
        if principal is None:
            principal = await run_in_threadpool(self.keys.check, presented)
        if principal is None:
            raise InvalidCredentials()
        return principal

    async def _token(self, token: str) -> Principal:
        if self.jwks is None:
            raise InvalidCredentials("bearer tokens are not accepted: no OIDC issuer is configured (use an API key)")
        seen = self.tokens.get(token)
        if seen is not None:
            return seen
        alg, kid = token_header(token, self.settings)
        key = self.jwks.fresh(kid, alg)
        if key is None:
            key = await run_in_threadpool(self.jwks.key, kid, alg)
        claims = decode_token(token, key, self.settings)
        principal = principal_of(claims, self.settings)
        self.tokens.put(token, claims, principal)
        return principal
