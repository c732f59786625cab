"""Helpers of ``bench/hostile.py``: the throwaway database and its data, the ``esdl serve`` subprocess with its
memory sampler, the HTTP client with its outcome classes, and the query sets (cheap, heavy, the hostile corpus).

Kept out of the script so that each module holds one concern; nothing here is part of the ``esdl`` packages.
"""
