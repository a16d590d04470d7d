"""Packs code into ``sourcedir.tar.gz`` and models into ``model.tar.gz``, as sagemaker SDK v2 does.

The files of ``source_dir`` (or the lone entry point) sit at the archive root; the toolkit
extracts it into ``/opt/ml/code`` and runs ``sagemaker_program`` from there. A model folder's
files sit at the root of ``model.tar.gz``, as SageMaker extracts it into ``/opt/ml/model``.
"""

from __future__ import annotations

import tarfile
import tempfile
from contextlib import nullcontext
from pathlib import Path

from kiln.errors import ValidationError
from kiln.sdk.progress import transfer_progress
from kiln.storage import ObjectStore, S3Uri

# Caches and version control are never code the job needs.
_SKIPPED_DIRS = frozenset({"__pycache__", ".git", ".ipynb_checkpoints"})
_SKIPPED_SUFFIXES = (".pyc", ".pyo")


def pack_source(entry_point: str, source_dir: str | None, archive: Path) -> str:
    """Write the code archive to ``archive``; the program name (``sagemaker_program``)."""
    if source_dir is None:
        script = Path(entry_point)
        if not script.is_file():
            raise ValidationError(f"entry_point {entry_point!r} is not a file")
        _write(archive, [(script, script.name)])
        return script.name
    root = Path(source_dir)
    if not root.is_dir():
        raise ValidationError(f"source_dir {source_dir!r} is not a directory")
    if not (root / entry_point).is_file():
        raise ValidationError(
            f"No file named {entry_point!r} was found in source_dir {source_dir!r}"
        )
    _write(archive, code_files(root))
    return Path(entry_point).as_posix()


def upload_source(
    store: ObjectStore,
    entry_point: str,
    source_dir: str | None,
    target: S3Uri,
    description: str | None = None,
) -> str:
    """Pack the code (:func:`pack_source`) and upload it to ``target``; the program name.

    With ``description``, a progress bar so labelled shows the upload.
    """
    with tempfile.TemporaryDirectory(prefix="kiln-source-") as folder:
        archive = Path(folder) / "sourcedir.tar.gz"
        program = pack_source(entry_point, source_dir, archive)
        size = archive.stat().st_size
        bar = nullcontext(None) if description is None else transfer_progress(description, size)
        with bar as progress:
            store.upload_file(archive, target, progress)
    return program


def code_files(root: Path) -> list[tuple[Path, str]]:
    """``(path, name in the archive)`` for every file of ``root`` the job needs, sorted."""
    files = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if _SKIPPED_DIRS.intersection(relative.parts) or path.suffix in _SKIPPED_SUFFIXES:
            continue
        if path.is_file():
            files.append((path, relative.as_posix()))
    return files


def _write(archive: Path, files: list[tuple[Path, str]]) -> None:
    # dereference: the server refuses links inside archives; ship what they point at.
    with tarfile.open(archive, "w:gz", dereference=True) as tar:
        for path, name in files:
            tar.add(path, arcname=name, recursive=False)


def pack_folder(root: Path, archive: Path) -> None:
    """Write ``archive`` (``.tar.gz``) with the files of ``root`` at its root."""
    _write(archive, code_files(root))
