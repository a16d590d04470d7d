"""Tarballs: safe extraction (nothing lands outside the target) and packing of folders."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path, PurePosixPath


class UnsafeArchiveError(Exception):
    """The archive holds a member that would land outside its folder, or is no tarball."""


def safe_extract(archive: Path, dest: Path) -> None:
    """Extract ``archive`` into ``dest``, or refuse the whole archive if any member is unsafe.

    Refused: absolute paths, ``..`` parts, links (symbolic or hard) that point outside ``dest``,
    and device or FIFO entries. Nothing is written when a member is refused.
    """
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for member in members:
                _check_member(member)
            dest.mkdir(parents=True, exist_ok=True)
            tar.extractall(dest, members=members, filter="data")
    except tarfile.TarError as e:
        raise UnsafeArchiveError(f"{archive.name} is not a readable tar archive: {e}") from e


def _check_member(member: tarfile.TarInfo) -> None:
    name = PurePosixPath(member.name)
    if name.is_absolute():
        raise UnsafeArchiveError(f"refusing archive member {member.name!r}: absolute path")
    if ".." in name.parts:
        raise UnsafeArchiveError(f"refusing archive member {member.name!r}: '..' in path")
    if member.isdev() or member.isfifo():
        raise UnsafeArchiveError(f"refusing archive member {member.name!r}: device or FIFO")
    if member.issym() or member.islnk():
        target = PurePosixPath(member.linkname)
        base = name.parent if member.issym() else PurePosixPath()
        resolved = os.path.normpath(base / target)
        if target.is_absolute() or resolved == ".." or resolved.startswith("../"):
            raise UnsafeArchiveError(
                f"refusing archive member {member.name!r}: link to {member.linkname!r} "
                "leaves the archive's folder"
            )


def pack(folder: Path, archive: Path) -> None:
    """Write ``folder``'s contents (at the archive root) to the gzipped tarball ``archive``."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz", compresslevel=6) as tar:
        for path in sorted(folder.iterdir()):
            tar.add(path, arcname=path.name)
