"""Earth System Data Cube builder library: specs, sources, regridding, resumable writer, verification.

A plain typed library: it never imports prefect (a test proves it).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("esdl")  # stated once, in pyproject.toml
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
