"""Cached job environments, built by real uv (with nothing to download)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiln.runtime.envs import EnvironmentBuildError, Layer, ensure_env, env_key


def test_key_follows_content_not_the_path(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, second = tmp_path / "a" / "requirements.txt", tmp_path / "b" / "requirements.txt"
    first.write_text("tabulate==0.9.0\n")
    second.write_text("tabulate==0.9.0\n")
    assert env_key([Layer.from_file(first)]) == env_key([Layer.from_file(second)])
    second.write_text("tabulate==0.8.10\n")
    assert env_key([Layer.from_file(first)]) != env_key([Layer.from_file(second)])


def test_key_follows_every_layer_in_order() -> None:
    pandas, numpy = Layer("pandas", ("pandas",)), Layer("numpy", ("numpy",))
    assert env_key([pandas, numpy]) != env_key([numpy, pandas])
    assert env_key([pandas]) != env_key([Layer("pandas", ("pandas",), optional=True)])


def test_failed_optional_layer_is_skipped_and_remembered(tmp_path: Path) -> None:
    missing = Layer("no-such-toolkit", (str(tmp_path / "no-such-toolkit"),), optional=True)
    lines: list[str] = []
    built = ensure_env([missing], tmp_path / "envs", lines.append, name="test-image")
    assert built.is_new
    assert built.python.exists()
    assert built.skipped[0].startswith("no-such-toolkit: ")
    assert lines[0] == "Building environment for test-image (no-such-toolkit) with uv"
    again = ensure_env([missing], tmp_path / "envs", lines.append, name="test-image")
    assert (again.python, again.is_new, again.skipped) == (built.python, False, built.skipped)
    assert lines[-1] == f"Using environment {built.key} for test-image (cached)"


def test_failed_required_layer_fails_and_leaves_nothing(tmp_path: Path) -> None:
    missing = Layer("needed", (str(tmp_path / "needed"),))
    with pytest.raises(EnvironmentBuildError, match=r"^needed: "):
        ensure_env([missing], tmp_path / "envs")
    assert [p.name for p in (tmp_path / "envs").iterdir()] == [f"{env_key([missing])}.lock"]
