"""An OIDC issuer on loopback and a small app behind :class:`esdl.api.auth.Authenticator`, for the tests of
authentication (``tests/api/test_auth*.py``) and of the routes it protects.

The issuer is a real HTTP server in a thread (:func:`serve_issuer`) that serves its discovery document and its JWKS,
counts the fetches, and can be switched off; tokens are signed with keys made by the test (:func:`sign`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from esdl.api.auth import Authenticator, Permission, Principal
from esdl.api.errors import EndpointError

AUDIENCE = "https://esdl.example.org"


@dataclass
class Issuer:
    """An OIDC issuer's state: its keys, an off switch, and how often each document was fetched."""

    url: str = ""
    keys: list[dict[str, Any]] = field(default_factory=list)
    down: bool = False
    jwks_fetches: int = 0
    discoveries: int = 0
    claimed_issuer: str | None = None  # what the discovery document says the issuer is (default: url)

    def serve(self, path: str) -> tuple[int, dict[str, Any]]:
        """The status and JSON body of ``GET path``."""
        if self.down:
            return 503, {"error": "down"}
        if path == "/.well-known/openid-configuration":
            self.discoveries += 1
            return 200, {"issuer": self.claimed_issuer or self.url, "jwks_uri": self.url + "/jwks"}
        if path == "/jwks":
            self.jwks_fetches += 1
            return 200, {"keys": self.keys}
        return 404, {}


@contextmanager
def serve_issuer() -> Iterator[Issuer]:
    """An :class:`Issuer` served over HTTP on an ephemeral port of 127.0.0.1 while the block runs."""
    state = Issuer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = state.serve(self.path)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


class Clock:
    """Monotonic time that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def public_jwk(private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, kid: str, alg: str) -> dict[str, Any]:
    """The JWK of ``private``'s public key, as an issuer publishes it."""
    if isinstance(private, rsa.RSAPrivateKey):
        jwk = RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
    else:
        jwk = ECAlgorithm.to_jwk(private.public_key(), as_dict=True)
    return {**jwk, "kid": kid, "use": "sig", "alg": alg}


def claims(issuer: Issuer, **changes: Any) -> dict[str, Any]:
    """Valid claims for ``issuer`` (scope ``esdl:run``), with ``changes`` (``None`` drops a claim)."""
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": issuer.url,
        "aud": AUDIENCE,
        "sub": "alice",
        "iat": now,
        "exp": now + 300,
        "scope": "openid esdl:run",
        "jti": uuid.uuid4().hex,  # every token differs, so none is answered from the cache of verified tokens
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def sign(private: Any, payload: dict[str, Any], alg: str = "RS256", kid: str = "rsa-1") -> str:
    """A JWT of ``payload`` signed with ``private``."""
    return jwt.encode(payload, private, algorithm=alg, headers={"kid": kid})


def b64(data: bytes) -> str:
    """base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hmac_token(header: dict[str, Any], payload: dict[str, Any], secret: bytes) -> str:
    """A JWT signed with HMAC-SHA256 by hand, whatever its header says (PyJWT refuses a PEM key as HMAC secret)."""
    signing_input = b64(json.dumps(header).encode()) + "." + b64(json.dumps(payload).encode())
    return signing_input + "." + b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())


def make_app(auth: Authenticator) -> FastAPI:
    """An app with ``POST /run`` (needs ``run``) and ``GET /read`` (needs ``read``), errors answered as JSON."""
    app = FastAPI()

    @app.exception_handler(EndpointError)
    async def on_error(request: Request, err: Exception) -> JSONResponse:
        assert isinstance(err, EndpointError)
        return JSONResponse(err.body(), status_code=err.status, headers=err.headers())

    # Depends as a default: an Annotated string annotation (from __future__) could not name these local variables
    needs_run, needs_read = auth.require("run"), auth.require(Permission.READ)

    @app.post("/run")
    async def run(principal: Principal | None = Depends(needs_run)) -> dict[str, Any]:  # noqa: B008
        assert principal is not None
        return {"subject": principal.subject, "via": principal.via, "permission": principal.permission}

    @app.get("/read")
    async def read(principal: Principal | None = Depends(needs_read)) -> dict[str, Any]:  # noqa: B008
        return {"subject": None if principal is None else principal.subject}

    return app


def bearer(token: str) -> dict[str, str]:
    """The ``Authorization`` header for ``token``."""
    return {"Authorization": f"Bearer {token}"}


def assert_invalid_token(response: Any, says: str = "") -> None:
    """``response`` is a 401 for an invalid credential, its message containing ``says``."""
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="esdl", error="invalid_token"'
    assert response.json()["error"] == "unauthorized"
    assert says in response.json()["message"]
