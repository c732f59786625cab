"""The HTTP layer of esdl: the SPARQL 1.1 Protocol endpoint and its web page (``esdl serve``).

Modules: :mod:`esdl.api.settings` (``ESDL_SPARQL_*``), :mod:`esdl.api.errors` (protocol errors), :mod:`esdl.api.results`
(content negotiation and result formats), :mod:`esdl.api.database` (the read-only role and transactions),
:mod:`esdl.api.sparql` (the application, :func:`esdl.api.sparql.create_app`). The libraries (:mod:`semantic`) never
import this package.
"""
