"""Safe extraction refuses archives that would write outside their folder."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest

from kiln.runtime.archives import ArchiveTooLargeError, UnsafeArchiveError, pack, safe_extract


def _tar(tmp_path: Path, *members: tarfile.TarInfo) -> Path:
    path = tmp_path / "a.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for member in members:
            tar.addfile(member, io.BytesIO(b"x" * member.size) if member.isfile() else None)
    return path


def _file(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = 1
    return info


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


def test_plain_archive_is_extracted(tmp_path: Path) -> None:
    safe_extract(_tar(tmp_path, _file("code/train.py")), tmp_path / "out")
    assert (tmp_path / "out" / "code" / "train.py").read_bytes() == b"x"


def test_link_inside_the_folder_is_allowed(tmp_path: Path) -> None:
    safe_extract(_tar(tmp_path, _file("a.py"), _link("b.py", "a.py")), tmp_path / "out")
    assert (tmp_path / "out" / "b.py").is_symlink()


@pytest.mark.parametrize(
    "member",
    [
        _file("/etc/passwd"),
        _file("../escape.py"),
        _file("code/../../escape.py"),
        _link("l", "../../etc/passwd"),
        _link("l", "/etc/passwd"),
        _link("h", "../outside", tarfile.LNKTYPE),
    ],
)
def test_unsafe_member_refuses_the_whole_archive(tmp_path: Path, member: tarfile.TarInfo) -> None:
    archive = _tar(tmp_path, _file("ok.py"), member)
    with pytest.raises(UnsafeArchiveError, match="refusing archive member"):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_non_tarball_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "model.tar.gz"
    bogus.write_bytes(b"not a tarball")
    with pytest.raises(UnsafeArchiveError, match="not a readable tar archive"):
        safe_extract(bogus, tmp_path / "out")


def test_archive_larger_than_its_room_is_refused_before_anything_is_written(
    tmp_path: Path,
) -> None:
    huge = tarfile.TarInfo("zeros.bin")
    huge.size = 10 * 2**30
    archive = tmp_path / "bomb.tar.gz"
    # Only the header: the refusal must come from it, not from expanding 10 GiB.
    with gzip.open(archive, "wb") as f:
        f.write(_file("a.py").tobuf() + b"x".ljust(512, b"\0") + huge.tobuf())
    with pytest.raises(ArchiveTooLargeError, match="bomb.tar.gz expands to more than 1,048,576"):
        safe_extract(archive, tmp_path / "out", max_bytes=2**20)
    assert not (tmp_path / "out").exists()


def test_extraction_returns_the_disk_it_takes_in_whole_blocks(tmp_path: Path) -> None:
    archive = _tar(tmp_path, _file("a.py"), _file("b.py"), _link("c.py", "a.py"))
    assert safe_extract(archive, tmp_path / "out", max_bytes=8192) == 8192


def test_pack_puts_contents_at_the_archive_root(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "weights.bin").write_bytes(b"w")
    pack(tmp_path / "model", tmp_path / "model.tar.gz")
    with tarfile.open(tmp_path / "model.tar.gz") as tar:
        assert tar.getnames() == ["weights.bin"]
