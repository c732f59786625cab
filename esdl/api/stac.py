"""``/stac``: a static STAC catalog of the published cubes, from the catalogue database.

``GET /stac`` is a STAC 1.1.0 Catalog whose children are the cubes the catalogue holds a STAC Collection for
(written with each build, :mod:`cubes.stac`, and kept by the catalogue load in ``cube.stac``), one per cube name:
its latest version. ``GET /stac/collections/{name}`` is that collection, with ``self``, ``root`` and ``parent``
links and its assets' relative hrefs made absolute against the published version's folder (the cube's
``store_path``), so that a client on a machine that sees the cube's storage opens the store straight from the
asset. An unknown name answers 404 (``not-found``), a catalogue that cannot be read 503 (``database``), with the
endpoint's JSON error body.
"""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from esdl.api.errors import NotFound
from esdl.api.openapi import stac_operation

if TYPE_CHECKING:
    from esdl.api.services import Services

STAC_VERSION = "1.1.0"
CATALOG_ID = "esdl"
MEDIA = "application/json"

# the latest version of each cube name that has a collection (created, then id, breaks ties)
_LATEST = sa.text(
    "SELECT DISTINCT ON (name) name, title, store_path, stac FROM cube WHERE stac IS NOT NULL "
    "ORDER BY name, created DESC, id DESC"
)
_ONE = sa.text(
    "SELECT name, title, store_path, stac FROM cube WHERE stac IS NOT NULL AND name = :name "
    "ORDER BY created DESC, id DESC LIMIT 1"
)


def _absolute(href: str, folder: str) -> str:
    """``href`` resolved against the local ``folder`` when it is relative (``./cube.zarr``); as it is otherwise."""
    if "://" in href or href.startswith("/"):
        return href
    return posixpath.normpath(posixpath.join(folder, href))


def collection_document(row: Any, base: str) -> dict[str, Any]:
    """A catalogue row's collection as served: links to itself and the catalog, absolute asset hrefs."""
    collection = dict(row.stac)
    folder = posixpath.dirname(str(row.store_path))
    collection["assets"] = {
        key: {**asset, "href": _absolute(str(asset["href"]), folder)}
        for key, asset in dict(collection.get("assets", {})).items()
    }
    others = [link for link in collection.get("links", []) if link.get("rel") not in ("self", "root", "parent")]
    collection["links"] = [
        {"rel": "self", "href": f"{base}/stac/collections/{row.name}", "type": MEDIA},
        {"rel": "root", "href": f"{base}/stac", "type": MEDIA, "title": "esdl cubes"},
        {"rel": "parent", "href": f"{base}/stac", "type": MEDIA, "title": "esdl cubes"},
        *others,
    ]
    return collection


def stac_router(services: Services) -> APIRouter:
    """The ``/stac`` routes over the catalogue, read in the services' read-only transactions (the role and
    timeout; a catalogue that cannot be read answers 503 ``database``)."""
    router = APIRouter(dependencies=[Depends(services.permit("read"))])  # (open unless ESDL_AUTH_REQUIRE_READ)

    def rows(statement: sa.TextClause, **params: Any) -> list[Any]:
        with services.runner.transaction() as conn:
            return list(conn.execute(statement, params).all())

    def base_of(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    @router.get(
        "/stac",
        summary="A STAC catalog of the published cubes (one collection per cube)",
        openapi_extra=stac_operation(one=False),
    )
    async def catalog(request: Request) -> JSONResponse:
        base = base_of(request)
        found = await run_in_threadpool(rows, _LATEST)
        children = [
            {
                "rel": "child",
                "href": f"{base}/stac/collections/{row.name}",
                "type": MEDIA,
                "title": row.title or row.name,
            }
            for row in found
        ]
        body = {
            "type": "Catalog",
            "stac_version": STAC_VERSION,
            "id": CATALOG_ID,
            "title": "esdl cubes",
            "description": "The Earth System Data Cubes published by this esdl installation, one STAC Collection "
            "(datacube extension) each.",
            "links": [
                {"rel": "self", "href": f"{base}/stac", "type": MEDIA},
                {"rel": "root", "href": f"{base}/stac", "type": MEDIA, "title": "esdl cubes"},
                *children,
            ],
        }
        return JSONResponse(body, media_type=MEDIA)

    @router.get(
        "/stac/collections/{name}",
        summary="The STAC Collection of a published cube (its latest version)",
        openapi_extra=stac_operation(one=True),
    )
    async def collection(name: str, request: Request) -> JSONResponse:
        # (a NUL, which no cube name has and PostgreSQL's text refuses, is not sent to the database)
        found = [] if "\x00" in name else await run_in_threadpool(rows, _ONE, name=name)
        if not found:
            raise NotFound(f"no published cube named {name!r} has a STAC collection")
        return JSONResponse(collection_document(found[0], base_of(request)), media_type=MEDIA)

    return router


__all__ = ["collection_document", "stac_router"]
