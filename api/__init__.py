"""The HTTP layer of esdl: the SPARQL 1.1 Protocol endpoint and its web page (``esdl serve``).

Modules: :mod:`api.settings` (``ESDL_SPARQL_*``), :mod:`api.errors` (protocol errors), :mod:`api.results`
(content negotiation and result formats), :mod:`api.database` (the read-only role and transactions),
:mod:`api.sparql` (the application, :func:`api.sparql.create_app`). The libraries (:mod:`semantic`) never
import this package.
"""
