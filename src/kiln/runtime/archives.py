"""Tarballs: safe extraction (nothing lands outside the target) and packing of folders."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path, PurePosixPath


class UnsafeArchiveError(Exception):
    """The archive holds a member that would land outside its folder, or is no tarball."""


class ArchiveTooLargeError(UnsafeArchiveError):
    """The archive expands to more than the room it was given (a tar bomb, or just too big)."""

    def __init__(self, archive: str, max_bytes: int) -> None:
        super().__init__(f"{archive} expands to more than {max_bytes:,} bytes")
        self.max_bytes = max_bytes


def safe_extract(archive: Path, dest: Path, max_bytes: int | None = None) -> int:
    """Extract ``archive`` into ``dest``, or refuse the whole archive if any member is unsafe;
    the bytes it takes on disk.

    Refused: absolute paths, ``..`` parts, links (symbolic or hard) that point outside ``dest``,
    device or FIFO entries, and more than ``max_bytes`` in all. Nothing is written when the
    archive is refused. The sizes come from the members' headers, read one at a time, so a tar
    bomb is refused at the header that goes over, without expanding the rest.
    """
    try:
        with tarfile.open(archive, "r:*") as tar:
            members, total = [], 0
            for member in tar:
                _check_member(member)
                total += _disk_bytes(member)
                if max_bytes is not None and total > max_bytes:
                    raise ArchiveTooLargeError(archive.name, max_bytes)
                members.append(member)
            dest.mkdir(parents=True, exist_ok=True)
            tar.extractall(dest, members=members, filter="data")
    except tarfile.TarError as e:
        raise UnsafeArchiveError(f"{archive.name} is not a readable tar archive: {e}") from e
    return total


def _disk_bytes(member: tarfile.TarInfo) -> int:
    """What a member takes on disk: its data in whole 4 KiB blocks, as file systems store it."""
    return -(-member.size // 4096) * 4096 if member.isfile() else 0


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
