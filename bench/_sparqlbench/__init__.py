"""Helpers of ``bench/sparql.py``: the synthetic catalogue built with SQL, the query set (SPARQL, the
hand-written SQL of the same question, and rdflib's variant), the rdflib side in a worker process, and the
translation and conformance figures.

Kept out of the script so that each module holds one concern; nothing here is part of the ``esdl`` packages.
"""
