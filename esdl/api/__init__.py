"""The HTTP layer of esdl (``esdl serve``): one application (:func:`esdl.api.app.create_app`) mounting routers built
by factories: the SPARQL 1.1 Protocol endpoint and its web page (:mod:`esdl.api.sparql`), the STAC catalog
(:mod:`esdl.api.stac`), signed webhooks (:mod:`esdl.api.hooks`), OGC API - Processes (:mod:`esdl.api.processes`)
and ``/metrics`` (:mod:`esdl.api.metrics`).

Other modules: :mod:`esdl.api.settings` (``ESDL_SPARQL_*``), :mod:`esdl.api.errors` (every error and the one table
of their answers), :mod:`esdl.api.results` (content negotiation and result formats), :mod:`esdl.api.database` (the
read-only role and transactions), :mod:`esdl.api.services` (what the routers share, started by the lifespan). The
libraries (:mod:`semantic`, :mod:`cubes`) never import this package.
"""
