"""Helpers of ``bench/orchestration.py``: the Prefect side (its REST API, work pools, deployments, a process
worker), the trivial flow the worker runs, and the signed deliveries (the hooks file, ``esdl serve --hooks``,
the senders and what their answers add up to).

Kept out of the script so that each module holds one concern; nothing here is part of the ``esdl`` packages.
"""
