"""Tests that need a tool this machine may lack: skip here, fail in CI (which must run them)."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def require(what: str, available: bool, how_to_get: str) -> None:
    """Go on when ``available``; else skip, or fail where ``CI`` is set (CI must not skip)."""
    if available:
        return
    _missing(f"{what} is not available here ({how_to_get})")


def _missing(message: str) -> NoReturn:
    if os.environ.get("CI"):
        pytest.fail(f"{message}; CI must run this test", pytrace=False)
    pytest.skip(message)
