"""``require``: skip where a tool is missing, fail in CI."""

from __future__ import annotations

import pytest

from support.needs import require


def test_require_goes_on_when_the_tool_is_there() -> None:
    require("a tool", True, "install it")


def test_require_skips_without_the_tool_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="install it"):
        require("a tool", False, "install it")


def test_require_fails_without_the_tool_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run this test"):
        require("a tool", False, "install it")
