"""Notebooks run headless with parameters, and the catalogue of the platform's own notebooks.

A library: it never imports prefect (the ``run-notebook`` and ``verify-notebooks`` flows call it). Modules:
:mod:`nbrun.catalogue` (the notebooks of a folder and their metadata), :mod:`nbrun.parameters` (papermill's
inspection of the parameters cell, and the checks before a run), :mod:`nbrun.execute` (a run with papermill, its
timeouts and failures), :mod:`nbrun.location` (the run's own folder, local or fsspec), :mod:`nbrun.outputs`
(figures, HTML, recorded values), :mod:`nbrun.record` (``record(name, value)``, for notebooks).

This package itself imports only :func:`record`, so that a notebook's ``from nbrun import record`` stays cheap.
"""

from nbrun.record import record

__all__ = ["record"]
