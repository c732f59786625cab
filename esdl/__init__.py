"""The esdl application: the ``esdl`` command line (:mod:`esdl.cli`) and the HTTP service (:mod:`esdl.api`).

It wires the libraries (:mod:`cubes`, :mod:`semantic`), the blocks and the flows together; nothing imports it.
"""
