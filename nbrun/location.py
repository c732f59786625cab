"""Where a run's results go: a folder of its own under a local path or an fsspec URL, never another run's.

Local results are written in place as the run goes (the result notebook is saved after every cell, so a run
killed outright still leaves its partial notebook). Results for another file system are written to a local
staging folder and copied there when the run ends, failed or not.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from pathlib import Path
from types import TracebackType

from nbrun.errors import OutputExists


def run_folder_name(started: dt.datetime, run_id: str) -> str:
    """``<UTC time>-<run id>``: sorts by time, unique by the run's id."""
    return f"{started.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}-{run_id}"


class RunLocation:
    """The folder of one run: ``<base>/<notebook>/<UTC time>-<run id>``, created exclusively.

    Use as a context manager: files are written under :attr:`local`; on exit they are copied to a remote target
    (and the staging folder removed).

    Raises:
        OutputExists: That folder exists already (a run id used twice).
    """

    def __init__(self, base: str, notebook: str, started: dt.datetime, run_id: str) -> None:
        from fsspec.core import url_to_fs
        from fsspec.implementations.local import LocalFileSystem

        self.fs, root = url_to_fs(base)
        self.is_local = isinstance(self.fs, LocalFileSystem)
        self.target = f"{root.rstrip('/')}/{notebook}/{run_folder_name(started, run_id)}"
        self._staging: str | None = None
        if self.is_local:
            target = Path(self.target)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                target.mkdir()
            except FileExistsError:
                raise OutputExists(f"{target}: a run's results are there already") from None
            self.local = target
            self.url = str(target)
        else:
            if self.fs.exists(self.target):
                raise OutputExists(f"{self.url_of(self.target)}: a run's results are there already")
            self._staging = tempfile.mkdtemp(prefix="nbrun-")
            self.local = Path(self._staging)
            self.url = self.url_of(self.target)

    def url_of(self, path: str) -> str:
        """The URL of ``path`` on this location's file system."""
        return str(self.fs.unstrip_protocol(path))

    def url_for(self, local: Path) -> str:
        """Where the local file ``local`` (under :attr:`local`) is, or will be, at the target."""
        if self.is_local:
            return str(local)
        return self.url_of(f"{self.target}/{local.relative_to(self.local).as_posix()}")

    def __enter__(self) -> RunLocation:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if self._staging is None:
            return
        try:
            self.fs.put(f"{self._staging}/", self.target, recursive=True)
        finally:
            shutil.rmtree(self._staging, ignore_errors=True)
