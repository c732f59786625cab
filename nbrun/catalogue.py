"""The notebook catalogue: the notebooks of one folder, each described by metadata kept in the notebook itself.

A catalogue notebook carries, in its notebook-level metadata under ``esdl``::

    {"title": "Cube report", "description": "...", "tags": ["cube", "report"],
     "verify": {"months": 12}}

``verify`` holds the parameters the automatic verification runs it with (over its parameters cell's defaults).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nbrun.errors import NotebookInvalid, NotebookNotFound

METADATA_KEY = "esdl"
"""Where the catalogue metadata is in a notebook's metadata."""


class CatalogueMeta(BaseModel):
    """What the catalogue says about one notebook."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, description="a short title")
    description: str = Field(default="", description="what the notebook shows, and what it needs")
    tags: list[str] = Field(default_factory=list, description="free tags, for finding it")
    verify: dict[str, Any] = Field(default_factory=dict, description="the parameters its verification runs with")


class CatalogueEntry(BaseModel):
    """One notebook of the catalogue: its name (the file's stem), its file and its metadata."""

    name: str
    path: Path
    meta: CatalogueMeta


def load_notebook(path: str | Path) -> Any:
    """Read the notebook at ``path`` as nbformat 4 (an ``nbformat.NotebookNode``).

    Raises:
        NotebookNotFound: No file there.
        NotebookInvalid: Not JSON, or not a valid notebook.
    """
    import nbformat
    from nbformat.reader import NotJSONError

    path = Path(path)
    if not path.is_file():
        raise NotebookNotFound(f"{path}: no such notebook")
    try:
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
    except NotJSONError:
        raise NotebookInvalid(f"{path}: not a notebook (not valid JSON)") from None
    except (nbformat.ValidationError, ValueError, KeyError, AttributeError, TypeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise NotebookInvalid(f"{path}: not a valid notebook: {first}") from None
    return notebook


def catalogue_meta(path: Path, notebook: Any) -> CatalogueMeta:
    """The catalogue metadata of ``notebook`` (read from ``path``).

    Raises:
        NotebookInvalid: It has none, or of the wrong shape (the message names the field).
    """
    raw = notebook.metadata.get(METADATA_KEY)
    if raw is None:
        raise NotebookInvalid(f"{path}: no catalogue metadata (metadata.{METADATA_KEY}: title, description, ...)")
    try:
        return CatalogueMeta.model_validate(raw)
    except ValidationError as err:
        problem = err.errors()[0]
        where = ".".join(str(p) for p in problem["loc"])
        raise NotebookInvalid(f"{path}: metadata.{METADATA_KEY}.{where}: {problem['msg']}") from None


def discover(folder: str | Path) -> list[CatalogueEntry]:
    """Every notebook directly in ``folder``, by name; each must carry catalogue metadata.

    Raises:
        NotebookNotFound: ``folder`` does not exist.
        NotebookInvalid: A notebook there is not valid, or has no (valid) catalogue metadata.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise NotebookNotFound(f"{folder}: no notebook catalogue there")
    entries = []
    for path in sorted(folder.glob("*.ipynb")):
        entries.append(CatalogueEntry(name=path.stem, path=path, meta=catalogue_meta(path, load_notebook(path))))
    return entries


def resolve(reference: str, folder: str | Path) -> Path:
    """The notebook ``reference`` names: a path to a notebook file, or the name of one in the catalogue.

    Raises:
        NotebookNotFound: Neither; the message lists the catalogue's names.
    """
    as_path = Path(reference)
    if as_path.suffix == ".ipynb" or as_path.is_file():
        if as_path.is_file():
            return as_path
        raise NotebookNotFound(f"{reference}: no such notebook")
    candidate = Path(folder) / f"{reference}.ipynb"
    if candidate.is_file():
        return candidate
    names = sorted(p.stem for p in Path(folder).glob("*.ipynb")) if Path(folder).is_dir() else []
    known = f"; the catalogue has {', '.join(names)}" if names else f"; no catalogue at {folder}"
    raise NotebookNotFound(f"{reference}: no such notebook{known}")
