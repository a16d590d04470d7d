"""Reading what a job wrote without following its links out of its folder."""

from __future__ import annotations

import os
from pathlib import Path

from kiln.services.training.job_files import pinned, read_text


def _job(tmp_path: Path) -> tuple[Path, Path]:
    folder, secret = tmp_path / "job", tmp_path / "credentials.json"
    folder.mkdir()
    secret.write_text("secret")
    return folder, secret


def test_regular_file_inside_is_read(tmp_path: Path) -> None:
    folder, _ = _job(tmp_path)
    (folder / "failure").write_text("ValueError: bad input")
    assert read_text(folder, folder / "failure", 1024) == "ValueError: bad input"


def test_link_out_of_the_folder_is_not_followed(tmp_path: Path) -> None:
    folder, secret = _job(tmp_path)
    (folder / "failure").symlink_to(secret)
    assert read_text(folder, folder / "failure", 1024) is None


def test_folder_swapped_for_a_link_out_is_not_followed(tmp_path: Path) -> None:
    folder, _ = _job(tmp_path)
    (folder / "output").symlink_to(tmp_path)
    assert read_text(folder, folder / "output" / "credentials.json", 1024) is None


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    folder, _ = _job(tmp_path)
    os.mkfifo(folder / "failure")
    assert read_text(folder, folder / "failure", 1024) is None


def test_pinned_path_keeps_naming_the_file_after_a_swap(tmp_path: Path) -> None:
    folder, secret = _job(tmp_path)
    (folder / "ckpt").write_text("weights")
    with pinned(folder, folder / "ckpt") as handle:
        assert handle is not None
        (folder / "ckpt").unlink()
        (folder / "ckpt").symlink_to(secret)
        assert handle.read_text() == "weights"
