"""Shared helpers and fixtures of the test suite, importable as ``esdl_testing`` wherever pytest starts.

``pythonpath = ["tests"]`` in ``pyproject.toml`` puts this package's parent on ``sys.path``; the name is unique so
that nothing here clashes with the ``tests`` package some dependencies install into site-packages. The fixtures
live in :mod:`esdl_testing.fixtures` and reach the tests through ``pytest_plugins`` in ``tests/conftest.py``.
"""
