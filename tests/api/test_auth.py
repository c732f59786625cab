"""Authentication of the HTTP service by OIDC bearer JWTs (esdl.api.auth), checked against a JWKS served over real
HTTP on loopback (:mod:`esdl_testing.auth`), and its settings. API keys: ``test_auth_keys.py``.

The test app has one route that needs ``run`` and one that needs ``read``, behind :meth:`Authenticator.require`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi.testclient import TestClient
from pydantic import ValidationError

from esdl.api.auth import Authenticator, AuthSettings, Permission, Principal, authenticator
from esdl.api.auth.jwks import JwksCache
from esdl.api.auth.tokens import TokenCache, permission_of, scopes_of
from esdl_testing.auth import (
    AUDIENCE,
    Clock,
    Issuer,
    assert_invalid_token,
    bearer,
    claims,
    hmac_token,
    make_app,
    public_jwk,
    serve_issuer,
    sign,
)


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    with serve_issuer() as served:
        yield served


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def settings_for(issuer: Issuer, **changes: Any) -> AuthSettings:
    return AuthSettings(_env_file=None, issuer=issuer.url, audience=AUDIENCE, **changes)  # type: ignore[call-arg]


@dataclass
class Service:
    client: TestClient
    auth: Authenticator
    clock: Clock

    @property
    def jwks(self) -> JwksCache:
        assert self.auth.jwks is not None
        return self.auth.jwks


@pytest.fixture
def service(issuer: Issuer, rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey) -> Iterator[Service]:
    issuer.keys = [public_jwk(rsa_key, "rsa-1", "RS256"), public_jwk(ec_key, "ec-1", "ES256")]
    settings = settings_for(issuer)
    clock = Clock()
    auth = Authenticator(settings, None, jwks=JwksCache(settings, clock=clock))
    with TestClient(make_app(auth)) as client:
        yield Service(client, auth, clock)
    auth.close()


# --- tokens -----------------------------------------------------------------------------------------------------


def test_no_credential_is_401_for_run_and_anonymous_for_read(service: Service) -> None:
    response = service.client.post("/run")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="esdl"'
    assert response.json()["error"] == "unauthorized"
    assert service.client.get("/read").json() == {"subject": None}


@pytest.mark.parametrize(("alg", "kid"), [("RS256", "rsa-1"), ("ES256", "ec-1")])
def test_valid_token_with_run_scope_runs(
    service: Service, issuer: Issuer, rsa_key: Any, ec_key: Any, alg: str, kid: str
) -> None:
    token = sign(rsa_key if alg == "RS256" else ec_key, claims(issuer), alg, kid)
    response = service.client.post("/run", headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.json() == {"subject": "alice", "via": "oidc", "permission": Permission.RUN}
    assert service.client.get("/read", headers=bearer(token)).json() == {"subject": "alice"}
    assert issuer.discoveries == 1 and issuer.jwks_fetches == 1


def test_read_scope_on_the_run_route_is_403(service: Service, issuer: Issuer, rsa_key: Any) -> None:
    token = sign(rsa_key, claims(issuer, scope="esdl:read"))
    response = service.client.post("/run", headers=bearer(token))
    assert response.status_code == 403 and response.json()["error"] == "forbidden"
    assert "insufficient_scope" in response.headers["WWW-Authenticate"]
    assert service.client.get("/read", headers=bearer(token)).status_code == 200
    no_scope = sign(rsa_key, claims(issuer, scope="openid"))
    assert service.client.post("/run", headers=bearer(no_scope)).status_code == 403


def test_admin_role_in_nested_claims_runs(service: Service, issuer: Issuer, rsa_key: Any) -> None:
    token = sign(rsa_key, claims(issuer, scope=None, realm_access={"roles": ["esdl:admin"]}))
    response = service.client.post("/run", headers=bearer(token))
    assert response.status_code == 200 and response.json()["permission"] == Permission.ADMIN


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"exp": int(time.time()) - 120}, "expired"),
        ({"nbf": int(time.time()) + 120}, "not valid yet"),
        ({"aud": "https://other.example.org"}, "audience"),
        ({"iss": "https://evil.example.org"}, "issuer"),
        ({"exp": None}, "required claim"),
    ],
    ids=["expired", "not-yet-valid", "wrong-audience", "wrong-issuer", "no-exp"],
)
def test_bad_claims_are_401(service: Service, issuer: Issuer, rsa_key: Any, changes: dict[str, Any], says: str) -> None:
    assert_invalid_token(service.client.post("/run", headers=bearer(sign(rsa_key, claims(issuer, **changes)))), says)


def test_leeway_covers_small_clock_skew(service: Service, issuer: Issuer, rsa_key: Any) -> None:
    now = int(time.time())
    token = sign(rsa_key, claims(issuer, exp=now - 5, nbf=now + 5))
    assert service.client.post("/run", headers=bearer(token)).status_code == 200


def test_alg_none_is_refused(service: Service, issuer: Issuer) -> None:
    token = jwt.encode(claims(issuer), None, algorithm="none", headers={"kid": "rsa-1"})  # type: ignore[arg-type]
    assert_invalid_token(service.client.post("/run", headers=bearer(token)), "algorithm")


def test_hs256_signed_with_the_public_key_is_refused(service: Service, issuer: Issuer, rsa_key: Any) -> None:
    # the classic confusion: the public key (which anyone has) used as an HMAC secret
    pem = rsa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    token = hmac_token({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}, claims(issuer), pem)
    assert_invalid_token(service.client.post("/run", headers=bearer(token)), "algorithm")
    # an RS256 header over that HMAC signature fails too: the key verifies RSA signatures only
    forged = hmac_token({"alg": "RS256", "typ": "JWT", "kid": "rsa-1"}, claims(issuer), pem)
    assert_invalid_token(service.client.post("/run", headers=bearer(forged)), "signature")


def test_token_signed_by_another_key_is_refused(service: Service, issuer: Issuer) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert_invalid_token(service.client.post("/run", headers=bearer(sign(stranger, claims(issuer)))), "signature")


def test_short_rsa_key_is_refused(service: Service, issuer: Issuer) -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    issuer.keys.append(public_jwk(weak, "weak", "RS256"))
    with pytest.warns(jwt.InsecureKeyLengthWarning):  # PyJWT warns when signing with it, too
        token = sign(weak, claims(issuer), kid="weak")
    assert_invalid_token(service.client.post("/run", headers=bearer(token)))


def test_unknown_kid_refetches_once_then_401(service: Service, issuer: Issuer, rsa_key: Any) -> None:
    assert service.client.post("/run", headers=bearer(sign(rsa_key, claims(issuer)))).status_code == 200
    assert issuer.jwks_fetches == 1
    unknown = sign(rsa_key, claims(issuer), kid="rotated-away")
    assert_invalid_token(service.client.post("/run", headers=bearer(unknown)), "signing key")
    assert issuer.jwks_fetches == 2
    # more unknown kids at once do not make more fetches (rate-limited: ESDL_AUTH_JWKS_MIN_REFETCH_S)
    for _ in range(3):
        assert_invalid_token(service.client.post("/run", headers=bearer(unknown)))
    assert issuer.jwks_fetches == 2
    # after the interval, a new key the issuer rotated in is found by one refetch
    new = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    issuer.keys.append(public_jwk(new, "rsa-2", "RS256"))
    service.clock.now += 11
    assert service.client.post("/run", headers=bearer(sign(new, claims(issuer), kid="rsa-2"))).status_code == 200
    assert issuer.jwks_fetches == 3


def test_jwks_down_with_cached_keys_still_works(service: Service, issuer: Issuer, rsa_key: Any) -> None:
    assert service.client.post("/run", headers=bearer(sign(rsa_key, claims(issuer)))).status_code == 200
    issuer.down = True
    service.clock.now += 3600  # the keys are stale: a refetch is tried, fails, and the old keys are used
    assert service.client.post("/run", headers=bearer(sign(rsa_key, claims(issuer)))).status_code == 200
    assert issuer.jwks_fetches == 1 and service.jwks.fetches == 2


def test_no_keys_and_jwks_down_is_503(service: Service, issuer: Issuer, rsa_key: Any) -> None:
    issuer.down = True
    response = service.client.post("/run", headers=bearer(sign(rsa_key, claims(issuer))))
    assert response.status_code == 503, response.text
    assert response.json()["error"] == "auth-unavailable" and response.headers["Retry-After"]
    # an open read route with a token that cannot be checked is refused too, never let through
    assert service.client.get("/read", headers=bearer(sign(rsa_key, claims(issuer)))).status_code == 503


def test_discovery_naming_another_issuer_gives_no_keys(service: Service, issuer: Issuer, rsa_key: Any) -> None:
    issuer.claimed_issuer = "https://evil.example.org"
    response = service.client.post("/run", headers=bearer(sign(rsa_key, claims(issuer))))
    assert response.status_code == 503 and issuer.jwks_fetches == 0


def test_explicit_jwks_url_skips_discovery(issuer: Issuer, rsa_key: Any) -> None:
    issuer.keys = [public_jwk(rsa_key, "rsa-1", "RS256")]
    settings = settings_for(issuer, jwks_url=issuer.url + "/jwks")
    auth = Authenticator(settings, None)
    with TestClient(make_app(auth)) as client:
        assert client.post("/run", headers=bearer(sign(rsa_key, claims(issuer)))).status_code == 200
    auth.close()
    assert issuer.discoveries == 0 and issuer.jwks_fetches == 1


def test_tokens_are_refused_without_an_issuer(rsa_key: Any, issuer: Issuer) -> None:
    auth = Authenticator(AuthSettings(_env_file=None), None)  # type: ignore[call-arg]
    with TestClient(make_app(auth)) as client:
        assert_invalid_token(client.post("/run", headers=bearer(sign(rsa_key, claims(issuer)))), "no OIDC issuer")
        # nothing configured at all: still no anonymous run
        assert client.post("/run").status_code == 401


def test_garbage_and_conflicting_credentials_are_401(service: Service, issuer: Issuer, rsa_key: Any) -> None:
    assert_invalid_token(service.client.post("/run", headers=bearer("not-a-jwt")))
    assert_invalid_token(service.client.get("/read", headers=bearer("not-a-jwt")))  # given, so checked
    assert_invalid_token(service.client.post("/run", headers={"Authorization": "Bearer "}))
    token = sign(rsa_key, claims(issuer))
    both = {**bearer(token), "X-API-Key": "esdl_000000000000_" + "A" * 43}
    assert_invalid_token(service.client.post("/run", headers=both), "two different credentials")


def test_a_verified_token_is_remembered_until_it_expires(
    service: Service, issuer: Issuer, rsa_key: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded: list[str] = []
    real = authenticator.decode_token

    def counting(token: str, *args: Any) -> dict[str, Any]:
        decoded.append(token)
        return real(token, *args)

    monkeypatch.setattr(authenticator, "decode_token", counting)
    token = sign(rsa_key, claims(issuer))
    for _ in range(3):
        assert service.client.post("/run", headers=bearer(token)).status_code == 200
    assert decoded == [token]

    clock = Clock()
    cache = TokenCache(60, clock=clock)
    principal = Principal("alice", Permission.RUN, "oidc")
    cache.put("t", {"exp": clock.now + 10}, principal)
    assert cache.get("t") == principal and cache.get("other") is None
    clock.now += 10
    assert cache.get("t") is None  # never past exp
    TokenCache(0).put("t", {"exp": clock.now + 10}, principal)


def test_require_read_closes_reading(issuer: Issuer, rsa_key: Any) -> None:
    issuer.keys = [public_jwk(rsa_key, "rsa-1", "RS256")]
    auth = Authenticator(settings_for(issuer, require_read=True), None)
    with TestClient(make_app(auth)) as client:
        assert client.get("/read").status_code == 401
        assert client.get("/read", headers=bearer(sign(rsa_key, claims(issuer, scope="openid")))).status_code == 403
        assert client.get("/read", headers=bearer(sign(rsa_key, claims(issuer, scope="esdl:read")))).status_code == 200
        assert client.get("/read", headers=bearer(sign(rsa_key, claims(issuer)))).status_code == 200  # run ⊃ read
    auth.close()


# --- settings and scopes ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithms", [["none"], ["HS256"], ["RS256", "HS512"], []])
def test_settings_refuse_symmetric_and_none_algorithms(algorithms: list[str]) -> None:
    with pytest.raises(ValidationError):
        AuthSettings(_env_file=None, algorithms=algorithms)  # type: ignore[call-arg]


def test_settings_refuse_unsafe_combinations() -> None:
    with pytest.raises(ValidationError, match="AUDIENCE is required"):
        AuthSettings(_env_file=None, issuer="https://login.example.org")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="https"):
        AuthSettings(_env_file=None, issuer="http://login.example.org", audience="x")  # type: ignore[call-arg]
    local = AuthSettings(_env_file=None, issuer="http://127.0.0.1:8080/realms/esdl", audience="x")  # type: ignore[call-arg]
    assert local.oidc


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ESDL_AUTH_RUN_SCOPES", "esdl:run, pipeline")
    monkeypatch.setenv("ESDL_AUTH_ALGORITHMS", '["ES256"]')
    monkeypatch.setenv("ESDL_AUTH_REQUIRE_READ", "true")
    settings = AuthSettings(_env_file=None)  # type: ignore[call-arg]
    assert settings.run_scopes == ["esdl:run", "pipeline"] and settings.algorithms == ["ES256"]
    assert settings.require_read and not settings.oidc
    monkeypatch.setenv("ESDL_AUTH_ALGORITHMS", "RS256,HS256")
    with pytest.raises(ValidationError):
        AuthSettings(_env_file=None)  # type: ignore[call-arg]


def test_scopes_from_strings_lists_paths_and_namespaced_claims() -> None:
    token = {
        "scope": "openid esdl:read",
        "scp": ["a", 3],
        "realm_access": {"roles": ["esdl:run"]},
        "https://example.org/roles": ["esdl:admin"],
    }
    paths = ["scope", "scp", "realm_access.roles", "https://example.org/roles", "missing.path"]
    assert scopes_of(token, paths) == {"openid", "esdl:read", "a", "esdl:run", "esdl:admin"}
    settings = AuthSettings(_env_file=None)  # type: ignore[call-arg]
    assert permission_of(frozenset({"esdl:read", "esdl:admin"}), settings) is Permission.ADMIN
    assert permission_of(frozenset({"openid"}), settings) is None
    assert Permission.ADMIN > Permission.RUN > Permission.READ
