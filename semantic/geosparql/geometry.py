"""What every geometry-literal reader shares: CRS IRIs, the transform of a CRS's coordinates to
longitude/latitude, and the checks a geometry passes before it reaches SQL.

Every geometry the SQL side handles is a PostGIS ``geometry`` in SRID 4326 with longitude/latitude axis order
(docs/sparql.md, "RDF terms in SQL"); the readers of :mod:`semantic.geosparql.literals` (WKT, GeoJSON) and
:mod:`semantic.geosparql.gml` (GML) produce such geometries through this module.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from semantic.geosparql.errors import InvalidGeometryLiteral

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
"""WGS 84 longitude/latitude: the CRS of every geometry in SQL, and of a literal that names no CRS."""
EPSG_4326 = "http://www.opengis.net/def/crs/EPSG/0/4326"
"""WGS 84 latitude/longitude: the same datum as CRS84 with the axes swapped."""

CRS84_IRIS = frozenset(
    f"{scheme}://www.opengis.net/def/crs/OGC/{version}/CRS84"
    for scheme in ("http", "https")
    for version in ("1.3", "0")
)
EPSG_IRI = re.compile(r"https?://www\.opengis\.net/def/crs/EPSG/0/([0-9]+)")
"""An EPSG CRS IRI of the OGC definitions server; group 1 is the code."""
_OGC_IRI = re.compile(r"https?://www\.opengis\.net/def/crs/OGC/(?:1\.3|0)/(CRS[0-9A-Za-z]+)")


@dataclass(frozen=True)
class GeometryValue:
    """The value of a geometry literal.

    Attributes:
        geometry: The geometry in WGS 84 longitude/latitude, 2D, OGC-valid.
        crs: The CRS IRI the literal was written in (:data:`CRS84` when it names none).
    """

    geometry: BaseGeometry
    crs: str


@functools.lru_cache(maxsize=64)
def transform_for(crs: str, xy: bool = False) -> Callable[[np.ndarray], np.ndarray] | None:
    """Coordinates written in ``crs`` to longitude/latitude; ``None``: identity.

    Args:
        crs: A CRS IRI: OGC CRS84, an EPSG CRS or an OGC CRS that PROJ knows.
        xy: Coordinates are easting/longitude first whatever the CRS defines (the "traditional GIS order" of
            legacy GML ``srsName`` forms); by default they follow the axis order the CRS defines.

    Raises:
        InvalidGeometryLiteral: ``crs`` is not CRS84, an EPSG CRS or an OGC CRS that PROJ knows.
    """
    if crs in CRS84_IRIS:
        return None
    epsg = EPSG_IRI.fullmatch(crs)
    ogc = _OGC_IRI.fullmatch(crs)
    if epsg is not None and int(epsg[1]) == 4326:
        return None if xy else lambda coords: coords[:, ::-1]  # latitude/longitude: a swap, exactly
    if epsg is None and ogc is None:
        raise InvalidGeometryLiteral(f"unsupported CRS IRI <{crs}>: use OGC CRS84 or an EPSG CRS")
    from pyproj import CRS, Transformer
    from pyproj.exceptions import CRSError

    code = f"EPSG:{epsg[1]}" if epsg is not None else f"OGC:{ogc[1]}" if ogc is not None else ""
    try:
        source = CRS.from_user_input(code)
        # always_xy=False: GeoSPARQL Req 16, coordinates follow the axis order the CRS defines
        transformer = Transformer.from_crs(source, CRS.from_user_input("OGC:CRS84"), always_xy=xy)
    except CRSError as err:
        raise InvalidGeometryLiteral(f"unknown CRS <{crs}>: {err}") from err

    def transform(coords: np.ndarray) -> np.ndarray:
        if len(coords) == 1:  # pyproj would take a 1-element array for a scalar, with a NumPy deprecation warning
            return np.array([transformer.transform(float(coords[0, 0]), float(coords[0, 1]), errcheck=False)])
        x, y = transformer.transform(coords[:, 0], coords[:, 1], errcheck=False)
        return np.column_stack([x, y])

    return transform


def checked(geom: BaseGeometry, what: str) -> BaseGeometry:
    """``geom`` if it is OGC-valid with finite longitude/latitude coordinates in range.

    Raises:
        InvalidGeometryLiteral: Non-finite coordinates, coordinates outside longitude [-180, 180] / latitude
            [-90, 90], or an OGC-invalid geometry; the message starts with ``what``.
    """
    if not geom.is_empty:
        coords = shapely.get_coordinates(geom)
        if not np.isfinite(coords).all():
            raise InvalidGeometryLiteral(f"{what}: coordinates are not finite (outside the CRS's domain?)")
        x0, y0, x1, y1 = geom.bounds
        if not (-180 <= x0 and x1 <= 180 and -90 <= y0 and y1 <= 90):
            raise InvalidGeometryLiteral(f"{what}: coordinates outside longitude [-180, 180] / latitude [-90, 90]")
    if not shapely.is_valid(geom):
        raise InvalidGeometryLiteral(f"{what}: invalid geometry ({shapely.is_valid_reason(geom)})")
    return geom


def short(lexical: str) -> str:
    """A literal's lexical form for an error message: whitespace collapsed, at most 80 characters, quoted."""
    text = " ".join(lexical[:200].split())  # a huge literal is not copied whole
    return repr(text if len(text) <= 80 else text[:77] + "...")
