"""Earth System Data Cube builder library: specs, sources, regridding, resumable writer, verification.

A plain typed library: it never imports prefect (a test proves it).
"""

__version__ = "0.1.0"
