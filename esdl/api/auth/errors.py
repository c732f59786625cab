"""Errors of authentication and authorisation: each an :class:`~esdl.api.errors.EndpointError` with its status.

Their messages never say whether an API key exists, is revoked or has a wrong secret: all of that is "invalid
credentials". Token errors may say what is wrong with the token (expired, wrong audience): the token is the
caller's own and its claims are no secret to it.
"""

from __future__ import annotations

from esdl.api.errors import EndpointError

REALM = "esdl"


class Unauthorized(EndpointError):
    """No credential where one is needed, or one that is not valid (401)."""

    code = "unauthorized"
    status = 401

    def __init__(self, message: str = "authentication required", error: str | None = None) -> None:
        super().__init__(message)
        self.error = error

    def headers(self) -> dict[str, str]:
        """``WWW-Authenticate: Bearer realm="esdl"``, with ``error="..."`` (RFC 6750) when a credential was given."""
        challenge = f'Bearer realm="{REALM}"'
        if self.error is not None:
            challenge += f', error="{self.error}"'
        return {"WWW-Authenticate": challenge}


class InvalidCredentials(Unauthorized):
    """A credential was given and it is not valid: a bad token, or an API key that is unknown, wrong or revoked."""

    def __init__(self, message: str = "invalid credentials") -> None:
        super().__init__(message, error="invalid_token")


class Forbidden(EndpointError):
    """A valid credential whose permission is too low for the route (403)."""

    code = "forbidden"
    status = 403

    def __init__(self, needed: str) -> None:
        super().__init__(f"this needs the {needed!r} permission, which the credential does not grant")
        self.needed = needed

    def headers(self) -> dict[str, str]:
        """``WWW-Authenticate`` with ``error="insufficient_scope"`` (RFC 6750, section 3.1)."""
        return {"WWW-Authenticate": f'Bearer realm="{REALM}", error="insufficient_scope"'}


class AuthUnavailable(EndpointError):
    """Credentials cannot be checked now: no signing keys from the identity provider, or the key store's database
    is unreachable (503; the request is refused, never let through)."""

    code = "auth-unavailable"
    status = 503

    def __init__(self, message: str = "credentials cannot be checked now; try again later") -> None:
        super().__init__(message)

    def headers(self) -> dict[str, str]:
        """``Retry-After``: a short wait."""
        return {"Retry-After": "10"}
