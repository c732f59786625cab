"""Prefect flows and the ``esdl`` command line: thin orchestration over :mod:`cubes` and :mod:`semantic`.

Importing the package puts :mod:`flows.heartbeats` in place of Prefect 3.8.8's heartbeat thread, whose join made
every flow run end up to a second late.
"""

from flows import heartbeats as _heartbeats

_heartbeats.install()
