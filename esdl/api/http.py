"""Request helpers shared by the endpoint's routes and the webhooks."""

from __future__ import annotations

from fastapi import Request

from esdl.api.errors import PayloadTooLarge


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, read no further than ``limit`` bytes.

    Raises:
        PayloadTooLarge: Content-Length or the bytes actually sent are over ``limit`` (whatever Content-Length
            says).
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


__all__ = ["read_body"]
