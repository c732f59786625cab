"""The ``X-Esdl-Signature`` scheme: HMAC-SHA256 over ``t + "." + body``, timestamped (as Stripe signs)."""

from __future__ import annotations

import hashlib
import hmac
import time

from esdl.api.hooks.delivery import HookError

SIGNATURE_HEADER = "X-Esdl-Signature"


def sign(secret: bytes, body: bytes, timestamp: int | None = None) -> str:
    """The ``X-Esdl-Signature`` value of ``body`` (for senders and tests)."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret, f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def verify(secret: bytes, header: str | None, body: bytes, tolerance_s: float, now: float | None = None) -> str:
    """Check a delivery's signature header; the matching ``v1`` digest.

    Raises:
        HookError: 401 ``signature``: missing, malformed, outside the tolerance, or no ``v1`` matches.
    """
    if not header:
        raise HookError(401, "signature", f"no {SIGNATURE_HEADER} header")
    t: int | None = None
    digests: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit() and len(value) <= 12:
            t = int(value)
        elif key == "v1" and value:
            digests.append(value.lower())
    if t is None or not digests:
        raise HookError(401, "signature", f"{SIGNATURE_HEADER} must be t=<unix seconds>,v1=<hex HMAC-SHA256>")
    now = time.time() if now is None else now
    if abs(now - t) > tolerance_s:
        raise HookError(401, "signature", f"the signature's timestamp is more than {tolerance_s:g} s from now")
    expected = hmac.new(secret, f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    for digest in digests:  # every one compared, in constant time each
        if hmac.compare_digest(expected, digest):
            return digest
    raise HookError(401, "signature", "the signature does not match")
