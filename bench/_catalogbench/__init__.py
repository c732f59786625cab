"""Helpers of ``bench/catalog_load.py``: the synthetic cube and regions, the two zonal-statistics sides and
their comparison, and the timed load into PostGIS.

Kept out of the script so that each module holds one concern; nothing here is part of the ``esdl`` packages.
"""
