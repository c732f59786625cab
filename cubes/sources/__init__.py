"""Sources: one small plugin interface (:class:`SourceOpener`) and the built-in kinds.

Built in: ``netcdf``, ``zarr``, ``geotiff``, ``stac`` and ``synthetic``. Register more with
:func:`register_source`.
"""

from cubes.sources import files, stac, synthetic  # noqa: F401  (register the built-in kinds)
from cubes.sources.base import SourceOpener, open_source, register_source, resolve_path, source_kinds

__all__ = ["SourceOpener", "open_source", "register_source", "resolve_path", "source_kinds"]
