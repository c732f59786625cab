"""Signed webhooks: ``POST /hooks/{name}`` starts a run of a Prefect deployment.

Open-source Prefect has no webhooks (they are a Prefect Cloud feature); these are ours. Hooks are declared in a
YAML file (:class:`HooksConfig`; ``deployments/hooks.yaml``): each names a deployment, how the JSON body maps to
its parameters (JSON pointers), and where its secret is (an environment variable or a Prefect Secret block;
never in the file).

A delivery carries ``X-Esdl-Signature: t=<unix seconds>,v1=<hex>``, where ``v1`` is HMAC-SHA256 with the hook's
secret over ``t + "." + the raw body`` (the scheme of Stripe's webhooks; several ``v1`` are allowed, for a
secret being rotated), compared in constant time and refused when ``t`` is more than ``tolerance_s`` (300) away
from the server's clock. Sign one by hand::

    t=$(date +%s); body='{"spec": "cubes/specs/demo.yaml"}'
    sig=$(printf '%s.%s' "$t" "$body" | openssl dgst -sha256 -hmac "$SECRET" -r | cut -d' ' -f1)
    curl -H "X-Esdl-Signature: t=$t,v1=$sig" -H "Idempotency-Key: delivery-42" \\
         -H "Content-Type: application/json" --data "$body" http://127.0.0.1:8000/hooks/cube-input-landed

The ``Idempotency-Key`` header becomes the flow run's idempotency key (scoped by hook): a retried delivery gets
the run the first one made. Without the header the signature is the key, so a replayed request (same ``t``,
same body) makes no second run either. Deliveries of a key that arrive while its run is being created wait for
that creation (one request to Prefect) and answer its run as a duplicate.

The run's parameters (the deployment's own, updated with the delivery's) are checked here, with the validator
Prefect's server uses for a deployment that enforces its schema, read with the deployment (every
:data:`CACHE_S`); the run is then created with ``enforce_parameter_schema: false``, so that the server does not
check them a second time (that check is half of the server's CPU time for a run). Parameters holding a Prefect
placeholder (``__prefect_kind``), which only the server resolves, are left to the server's check.

Answers: 202 ``{"flow_run_id", "flow_run_name", "url", "state", "duplicate"}``; 400 ``request`` (a body that
is not a JSON object); 401 ``signature`` (missing, malformed, stale or wrong); 404 ``unknown-hook``; 413
``too-large``; 422 ``parameters`` (a pointer the body lacks, or parameters that fail the deployment's own
parameter schema: the field's path is in the message); 503 ``unavailable`` with ``Retry-After`` (the Prefect API
cannot be reached, or the deployment is not registered). No flow run is created for any rejected request. Each
accepted delivery emits the Prefect event ``esdl.webhook.accepted`` (the UI's event feed), related to its run.
"""

from __future__ import annotations

from esdl.api.hooks.config import Hook, HooksConfig, Secret, load_hooks
from esdl.api.hooks.delivery import HookError, check_parameters, parameter_validator, parameters_of, pointer
from esdl.api.hooks.service import EVENT, IDEMPOTENCY_HEADER, HookService, hooks_router
from esdl.api.hooks.signature import SIGNATURE_HEADER, sign, verify

__all__ = [
    "EVENT",
    "IDEMPOTENCY_HEADER",
    "SIGNATURE_HEADER",
    "Hook",
    "HookError",
    "HookService",
    "HooksConfig",
    "Secret",
    "check_parameters",
    "hooks_router",
    "load_hooks",
    "parameter_validator",
    "parameters_of",
    "pointer",
    "sign",
    "verify",
]
