"""Prefect flows and the ``esdl`` command line: thin orchestration over :mod:`cubes` and :mod:`semantic`."""
