"""Auth off is only for loopback: the rule, and the server refusing to start otherwise."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from kiln.config import Settings
from kiln.server import ExposureError, check_exposure, is_loopback


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.9.1", True), ("::1", True), ("localhost", True),
     ("0.0.0.0", False), ("::", False), ("192.168.1.4", False), ("example.org", False)],
)  # fmt: skip
def test_loopback_hosts_are_told_apart(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def _settings(tmp_path: Path, host: str, auth: str) -> Settings:
    env = {"KILN_HOME": str(tmp_path), "KILN_AUTH": auth}
    return replace(Settings.from_env(env), host=host)


def test_auth_off_beyond_loopback_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ExposureError, match="Refusing to start with auth off"):
        check_exposure(_settings(tmp_path, "0.0.0.0", "0"))


def test_auth_off_on_loopback_warns_loudly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    check_exposure(_settings(tmp_path, "127.0.0.1", "0"))
    assert "AUTH IS OFF" in caplog.text


def test_auth_on_any_interface_is_allowed(tmp_path: Path) -> None:
    check_exposure(_settings(tmp_path, "0.0.0.0", "1"))


def test_kiln_auth_accepts_only_flags(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="KILN_AUTH"):
        Settings.from_env({"KILN_HOME": str(tmp_path), "KILN_AUTH": "maybe"})
