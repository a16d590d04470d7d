"""Reading SageMaker's JSON documents field by field, with errors that name the bad field.

The documents may come from AWS as well as from Kiln: fields these readers do not ask for are
ignored, and AWS's habit of writing counts as floats (``"count": 4.0``) is accepted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def as_mapping(value: Any, where: str) -> Mapping[str, Any]:
    """``value`` as a JSON object, or ``ValueError`` naming ``where``."""
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: expected an object, got {value!r:.80}")
    return value


def as_list(value: Any, where: str) -> list[Any]:
    """``value`` as a JSON array, or ``ValueError`` naming ``where``."""
    if not isinstance(value, list):
        raise ValueError(f"{where}: expected an array, got {value!r:.80}")
    return value


def as_text(value: Any, where: str) -> str:
    """``value`` as a string, or ``ValueError`` naming ``where``."""
    if not isinstance(value, str):
        raise ValueError(f"{where}: expected a string, got {value!r:.80}")
    return value


def as_float(value: Any, where: str) -> float:
    """``value`` as a number (JSON numbers, or Spark's ``"NaN"``-style strings)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{where}: expected a number, got {value!r:.80}")
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{where}: expected a number, got {value!r:.80}") from None


def as_int(value: Any, where: str) -> int:
    """``value`` as a whole count (``4`` or ``4.0``), or ``ValueError`` naming ``where``."""
    number = as_float(value, where)
    if not math.isfinite(number) or number != int(number) or number < 0:
        raise ValueError(f"{where}: expected a count, got {value!r:.80}")
    return int(number)


def as_switch(value: Any, where: str) -> bool:
    """SageMaker's ``"Enabled"`` / ``"Disabled"`` as a bool."""
    text = as_text(value, where)
    if text not in ("Enabled", "Disabled"):
        raise ValueError(f"{where}: expected 'Enabled' or 'Disabled', got {text!r}")
    return text == "Enabled"


def switch(enabled: bool) -> str:
    """A bool as SageMaker's ``"Enabled"`` / ``"Disabled"``."""
    return "Enabled" if enabled else "Disabled"
