"""Domain errors of the cube library.

Every error the library raises on purpose derives from :class:`CubeError`; the CLI, the flows and the HTTP
layer translate them at the boundary (exit code 2, HTTP 4xx).
"""

from __future__ import annotations


class CubeError(Exception):
    """Base class of every error raised on purpose by :mod:`cubes`."""


class SpecError(CubeError):
    """The cube specification is invalid; the message names the offending field."""


class SourceError(CubeError):
    """A source cannot be opened, decoded or interpreted."""


class RegridError(CubeError):
    """A source cannot be regridded onto the target grid or time axis."""


class WriteError(CubeError):
    """The cube cannot be written, resumed or published."""


class VerifyError(CubeError):
    """A written cube does not pass verification."""


class ZonalError(CubeError):
    """Zonal statistics or features cannot be computed: irregular grid, unknown CRS, bad geometry or shape."""


class MissingExtraError(CubeError):
    """An optional extra that a feature needs is not installed (the message names the pip command)."""


class ModelError(CubeError):
    """A model cannot be trained, saved, loaded or applied."""


class ModelMismatchError(ModelError):
    """A cube does not fit a saved model: a variable is missing, or the grid or time step differs."""


class ScaleOutError(CubeError):
    """A cluster profile cannot be started or scaled: devices it needs are missing, a worker cannot start."""


class ResourceUnavailableError(ScaleOutError):
    """Tasks waited too long for a worker resource that no worker group offers (the message names it)."""


class KubernetesError(CubeError):
    """A profile cannot become Kubernetes resources, or its DaskCluster cannot be created, reached or scaled."""
