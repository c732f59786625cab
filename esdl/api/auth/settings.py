"""Settings of authentication (``esdl serve``): environment variables ``ESDL_AUTH_*``.

There is no switch that turns authentication off. Routes that start or stop work (``run``, ``admin``) always need
a credential: a bearer JWT from the OIDC issuer (when ``ESDL_AUTH_ISSUER`` is set) or an API key (``esdl keys
create``). With neither an issuer nor a key, nobody can start work: the service is closed, never open, by default.
Reading is open unless ``ESDL_AUTH_REQUIRE_READ=true``.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# asymmetric algorithms only: the verifying key is public, so an HMAC algorithm would let anyone who has the
# public key sign tokens (the "HS256 with the RSA key as secret" confusion); "none" is no signature at all
ASYMMETRIC = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES256K", "ES384", "ES512", "EdDSA"}
)

StrList = Annotated[list[str], NoDecode]
"""A list from the environment as JSON (``["a","b"]``) or comma- or space-separated (``a,b``)."""


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` names this machine (``localhost``, ``127.0.0.0/8``, ``::1``)."""
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, what: str) -> str:
    """``url`` if it is ``https``, or ``http`` to this machine (development and tests).

    Raises:
        ValueError: Another scheme, or plain ``http`` to another host (keys fetched so could be swapped on the way).
    """
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and is_loopback(parts.hostname):
        return url
    raise ValueError(f"{what} must be an https URL (plain http only to localhost): {url!r}")


class AuthSettings(BaseSettings):
    """Who may call the HTTP service, and how their credentials are checked.

    Environment variables: ``ESDL_AUTH_ISSUER``, ``ESDL_AUTH_AUDIENCE``, ``ESDL_AUTH_JWKS_URL``,
    ``ESDL_AUTH_ALGORITHMS``, ``ESDL_AUTH_JWKS_CACHE_S``, ``ESDL_AUTH_JWKS_MIN_REFETCH_S``,
    ``ESDL_AUTH_JWKS_TIMEOUT_S``, ``ESDL_AUTH_LEEWAY_S``, ``ESDL_AUTH_SCOPE_CLAIMS``, ``ESDL_AUTH_READ_SCOPES``,
    ``ESDL_AUTH_RUN_SCOPES``, ``ESDL_AUTH_ADMIN_SCOPES``, ``ESDL_AUTH_REQUIRE_READ``, ``ESDL_AUTH_TOKEN_CACHE_S``,
    ``ESDL_AUTH_KEY_CACHE_S``.
    Lists are JSON (``["a","b"]``) or comma-separated (``a,b``).
    """

    model_config = SettingsConfigDict(env_prefix="ESDL_AUTH_", env_file=".env", extra="ignore")

    issuer: str | None = Field(
        default=None,
        description="the OIDC issuer whose bearer JWTs are accepted (its `iss`, e.g. "
        "https://login.example.org/realms/esdl); unset: no tokens are accepted, only API keys",
    )
    audience: str | None = Field(
        default=None,
        description="the `aud` tokens must carry (the service's client id or URL); required with an issuer, so that "
        "tokens the issuer made for other applications are refused",
    )
    jwks_url: str | None = Field(
        default=None,
        description="where the issuer's signing keys are (JWKS); default: the `jwks_uri` of "
        "{issuer}/.well-known/openid-configuration",
    )
    algorithms: StrList = Field(
        default_factory=lambda: ["RS256", "ES256"],
        description="signature algorithms accepted (asymmetric only: `none` and HS* are refused here)",
    )
    jwks_cache_s: float = Field(
        default=300, gt=0, description="how long fetched signing keys are used before they are fetched again"
    )
    jwks_min_refetch_s: float = Field(
        default=10,
        ge=0,
        description="least time between two fetches of the keys: a token with an unknown `kid` refetches at most "
        "this often (else it is refused at once), and so does a key set that cannot be fetched",
    )
    jwks_timeout_s: float = Field(default=5, gt=0, description="timeout of one fetch of the keys or the discovery")
    leeway_s: float = Field(default=30, ge=0, le=300, description="clock skew allowed on `exp`, `nbf` and `iat`")
    scope_claims: StrList = Field(
        default_factory=lambda: ["scope", "scp", "roles", "realm_access.roles"],
        description="claims holding scopes or roles (a space-separated string or a list); a dotted name is a path "
        "into nested claims unless the token has a claim of that exact name",
    )
    read_scopes: StrList = Field(default_factory=lambda: ["esdl:read"], description="scopes/roles that grant read")
    run_scopes: StrList = Field(
        default_factory=lambda: ["esdl:run"], description="scopes/roles that grant run (starting processes), and read"
    )
    admin_scopes: StrList = Field(
        default_factory=lambda: ["esdl:admin"], description="scopes/roles that grant admin (e.g. cancelling any job)"
    )
    require_read: bool = Field(
        default=False, description="reads need a credential with read permission too (default: reads are open)"
    )
    token_cache_s: float = Field(
        default=60,
        ge=0,
        le=300,
        description="how long a verified bearer JWT is remembered (never past its `exp`), so that the same token is "
        "not verified again; a key withdrawn from the issuer's JWKS stops being honoured within this time (0: "
        "every request verifies the signature)",
    )
    key_cache_s: float = Field(
        default=30,
        ge=0,
        le=300,
        description="how long a verified API key is trusted without asking the database; a key revoked elsewhere "
        "stops working within this time (0: every request asks the database)",
    )

    @field_validator("algorithms", "scope_claims", "read_scopes", "run_scopes", "admin_scopes", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part for part in text.replace(",", " ").split() if part]
        return value

    @field_validator("algorithms")
    @classmethod
    def _asymmetric(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one algorithm is needed")
        refused = [alg for alg in value if alg not in ASYMMETRIC]
        if refused:
            raise ValueError(
                f"algorithms {refused} are refused: only asymmetric ones ({', '.join(sorted(ASYMMETRIC))}); never "
                "`none` or HS*"
            )
        return value

    @field_validator("issuer", "jwks_url")
    @classmethod
    def _https(cls, value: str | None) -> str | None:
        return None if value is None else check_url(value, "the issuer and the JWKS URL")

    @model_validator(mode="after")
    def _audience_with_issuer(self) -> AuthSettings:
        if self.issuer is not None and not self.audience:
            raise ValueError("ESDL_AUTH_AUDIENCE is required with ESDL_AUTH_ISSUER")
        if self.jwks_url is not None and self.issuer is None:
            raise ValueError("ESDL_AUTH_JWKS_URL needs ESDL_AUTH_ISSUER (the `iss` tokens must carry)")
        return self

    @property
    def oidc(self) -> bool:
        """Whether bearer JWTs are accepted (an issuer is set)."""
        return self.issuer is not None
