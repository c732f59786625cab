"""``python -m esdl``: the command line."""

from esdl.cli import main

main()
