"""Where a build lives on disk: staging builds, published versions and the published location.

Layout beside the published path ``<dir>/<name>``::

    <dir>/<name>                          symlink -> .<name>.esdl/versions/<stamp>-<fp>/cube.zarr
    <dir>/.<name>.esdl/builds/<fp>/       a build in progress (staging), keyed by the spec fingerprint
        cube.zarr/                        the Zarr v3 store being written
        state/plan.json                   the plan (regions, fingerprint)
        state/template.done               the template (metadata, coordinates) is written
        state/regions/<i>.done            region i is written
        quicklooks/<var>.png
    <dir>/.<name>.esdl/versions/<stamp>-<fp>/   a complete, verified build (the renamed build folder)

Publishing renames the build folder into ``versions/`` and swaps the symlink with one ``rename``, which POSIX
makes atomic: a reader of ``<dir>/<name>`` sees the previous complete cube or the new one, never a partial one.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cubes.errors import WriteError
from cubes.spec import CubeSpec

KEEP_VERSIONS = 2
ANNOUNCED = "announced"
"""Marker file in a published version's folder: the version was announced (:meth:`Publication.mark_announced`)."""


def local_path(output: str) -> Path:
    """The local path of an output location.

    Raises:
        WriteError: The location is a remote URL (only local file systems can be published atomically).
    """
    if output.startswith("file://"):
        output = output.removeprefix("file://")
    elif "://" in output:
        raise WriteError(f"output {output!r}: only local paths (or file:// URLs) can be published atomically")
    return Path(output).absolute()


@dataclass(frozen=True)
class BuildDir:
    """A staging build of one spec fingerprint."""

    root: Path

    @property
    def store(self) -> Path:
        """The Zarr store."""
        return self.root / "cube.zarr"

    @property
    def state(self) -> Path:
        """Build state (plan and completion markers)."""
        return self.root / "state"

    @property
    def quicklooks(self) -> Path:
        """Quicklook PNGs."""
        return self.root / "quicklooks"

    def exists(self) -> bool:
        """True if a build was started here."""
        return (self.state / "plan.json").exists()

    def reset(self, plan: dict[str, object]) -> None:
        """Start afresh: remove anything here and record ``plan``."""
        if self.root.exists():
            shutil.rmtree(self.root)
        (self.state / "regions").mkdir(parents=True)
        _write_atomic(self.state / "plan.json", json.dumps(plan, indent=1))

    def plan(self) -> dict[str, object]:
        """The recorded plan."""
        return json.loads((self.state / "plan.json").read_text())

    def template_done(self) -> bool:
        """True once the template is written."""
        return (self.state / "template.done").exists()

    def mark_template_done(self) -> None:
        """Record that the template is written."""
        _write_atomic(self.state / "template.done", "")

    def done_regions(self) -> set[int]:
        """Indices of the regions recorded as written."""
        folder = self.state / "regions"
        return {int(p.stem) for p in folder.glob("*.done")} if folder.exists() else set()

    def mark_region_done(self, index: int, record: dict[str, Any] | None = None) -> None:
        """Record that region ``index`` is written (after its blocks are in the store), with ``record``
        (its statistics) as the marker's JSON content."""
        _write_atomic(self.state / "regions" / f"{index}.done", json.dumps(record or {}))

    def region_records(self) -> dict[int, dict[str, Any]]:
        """The records of the regions written so far, by index."""
        folder = self.state / "regions"
        return {int(p.stem): json.loads(p.read_text() or "{}") for p in folder.glob("*.done")}


def _write_atomic(path: Path, text: str) -> None:
    """Write ``text`` so that ``path`` is either absent or whole (rename over a temporary file).

    No fsync: markers guard against crashed processes and workers, whose writes the kernel keeps; surviving a
    power loss would need every chunk of the store synced as well.
    """
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


@dataclass(frozen=True)
class Publication:
    """The published location of a cube and its private folder."""

    output: Path

    @property
    def private(self) -> Path:
        """``.<name>.esdl`` beside the output."""
        return self.output.parent / f".{self.output.name}.esdl"

    def build(self, fingerprint: str) -> BuildDir:
        """The staging build for ``fingerprint``."""
        return BuildDir(self.private / "builds" / fingerprint)

    def current(self) -> Path | None:
        """The store the output points at, or ``None`` if nothing is published."""
        if self.output.is_symlink():
            return self.output.resolve()
        return None

    def published_fingerprint(self) -> str | None:
        """The spec fingerprint of the published cube, or ``None`` if nothing is published."""
        current = self.current()
        return None if current is None else current.parent.name.rsplit("-", 1)[-1]

    def announced(self) -> bool:
        """Whether the published version was announced (:meth:`mark_announced`); ``False`` if nothing is published."""
        current = self.current()
        return current is not None and (current.parent / ANNOUNCED).exists()

    def mark_announced(self) -> None:
        """Record that the published version was announced to its consumers, so that a later run finding it up
        to date announces it only if the run that published it could not (it failed or died in between)."""
        current = self.current()
        if current is None:
            raise WriteError(f"{self.output}: nothing is published to mark as announced")
        _write_atomic(current.parent / ANNOUNCED, dt.datetime.now(dt.UTC).isoformat())

    def check_publishable(self) -> None:
        """Raise if the output exists but was not published by esdl (it would not be replaced atomically)."""
        if self.output.exists() and not self.output.is_symlink():
            raise WriteError(
                f"output {self.output} exists and was not published by esdl; remove it or choose another output"
            )

    def publish(self, build: BuildDir) -> Path:
        """Move a complete, verified build into ``versions/`` and point the output at it atomically.

        Returns:
            The published store's real path.
        """
        self.check_publishable()
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
        version = self.private / "versions" / f"{stamp}-{build.root.name}"
        version.parent.mkdir(parents=True, exist_ok=True)
        os.rename(build.root, version)
        link = self.output.parent / f".{self.output.name}.link-{stamp}"
        os.symlink(os.path.relpath(version / "cube.zarr", self.output.parent), link)
        os.replace(link, self.output)
        self._prune(keep=version)
        return version / "cube.zarr"

    def _prune(self, keep: Path) -> None:
        versions = sorted((self.private / "versions").iterdir())
        for old in versions[:-KEEP_VERSIONS]:
            if old != keep:
                shutil.rmtree(old, ignore_errors=True)


def build_location(spec: CubeSpec) -> tuple[Publication, BuildDir]:
    """The publication of ``spec``'s output and the staging build folder of ``spec``."""
    if spec.output is None:
        raise WriteError(f"cube {spec.name}: no output location")
    publication = Publication(local_path(spec.output))
    return publication, publication.build(spec.fingerprint())
