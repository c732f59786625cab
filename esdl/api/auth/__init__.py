"""Authentication and authorisation of the HTTP service: OIDC bearer JWTs and API keys, mapped to permissions
``read`` < ``run`` < ``admin`` (``docs/auth.md``).

Wiring::

    auth = Authenticator(AuthSettings(), owner_engine)
    @router.post("/processes/{id}/execution")
    async def execute(..., principal: Principal = Depends(auth.require("run"))): ...

Modules: :mod:`~esdl.api.auth.settings` (``ESDL_AUTH_*``), :mod:`~esdl.api.auth.principal` (who and what),
:mod:`~esdl.api.auth.errors` (401/403/503), :mod:`~esdl.api.auth.jwks` (the issuer's keys),
:mod:`~esdl.api.auth.tokens` (checking a JWT), :mod:`~esdl.api.auth.keys` (API keys in the database),
:mod:`~esdl.api.auth.authenticator` (the request side).
"""

from esdl.api.auth.authenticator import Authenticator, Dependency
from esdl.api.auth.errors import AuthUnavailable, Forbidden, InvalidCredentials, Unauthorized
from esdl.api.auth.principal import Permission, Principal
from esdl.api.auth.settings import AuthSettings

__all__ = [
    "AuthSettings",
    "AuthUnavailable",
    "Authenticator",
    "Dependency",
    "Forbidden",
    "InvalidCredentials",
    "Permission",
    "Principal",
    "Unauthorized",
]
