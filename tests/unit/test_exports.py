"""The package's public names: ``kiln.__all__`` is sorted, complete and importable."""

from __future__ import annotations

import subprocess
import sys
import types

import kiln
import kiln.sdk


def test_all_is_sorted() -> None:
    assert kiln.__all__ == sorted(kiln.__all__)


def test_all_lists_every_public_sdk_name() -> None:
    assert set(kiln.__all__) == set(kiln.sdk.__all__)


def test_every_public_attribute_of_the_package_is_in_all() -> None:
    public = {
        name
        for name in dir(kiln)
        if not name.startswith("_") and not isinstance(getattr(kiln, name), types.ModuleType)
    }
    assert public == set(kiln.__all__)


def test_every_exported_name_resolves_to_the_sdk_object() -> None:
    for name in kiln.__all__:
        assert getattr(kiln, name) is getattr(kiln.sdk, name)


def test_importing_the_sdk_leaves_the_server_side_layers_unloaded() -> None:
    # A fresh interpreter: this one has imported everything the other tests needed.
    code = (
        "import sys, kiln.sdk; "
        "print(sorted(m for m in ('kiln.db', 'sqlalchemy', 'alembic') if m in sys.modules))"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]"
