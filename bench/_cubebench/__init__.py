"""Helpers of ``bench/cube_build.py``: input generation, the timed jobs, process monitoring and verification.

Kept out of the script so that each module holds one concern; nothing here is part of the ``esdl`` packages.
"""
