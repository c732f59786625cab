"""The ``esdl`` command line.

:mod:`esdl.cli.root` holds the root group and the shared helpers; each other module is one command group that
registers itself on the root when imported (the layout of Prefect's own ``prefect.cli``).
"""

from esdl.cli import catalog, cube, notebook, semantic, sparql, stack
from esdl.cli import keys as keys
from esdl.cli.root import main

__all__ = ["catalog", "cube", "main", "notebook", "semantic", "sparql", "stack"]
