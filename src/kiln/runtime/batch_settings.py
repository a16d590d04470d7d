"""The micro-batching settings of a model, read from its ``Environment`` (docs/batching.md).

| variable                      | default | range                                             |
|-------------------------------|---------|---------------------------------------------------|
| ``KILN_BATCHING``             | on      | on/true/1/yes or off/false/0/no                   |
| ``KILN_MAX_BATCH_SIZE``       | 128     | rows in a batch, 1–65536 (bigger requests: alone) |
| ``KILN_MAX_BATCH_DELAY_MS``   | 0       | 0–1000: how long 2+ queued requests may wait      |
| ``KILN_BATCH_CUSTOM_PREDICT`` | off     | on: the user's ``predict_fn`` takes stacked rows  |

Per model, not per server: ``CreateModel`` checks them with :func:`batch_settings` and the replica
refuses to start on them, so they are read here and not in :mod:`kiln.config`. No NumPy here:
the API server imports this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

MAX_ROWS_LIMIT = 65536
MAX_DELAY_MS_LIMIT = 1000.0
_TRUE = frozenset(("1", "true", "on", "yes"))
_FALSE = frozenset(("0", "false", "off", "no"))


class BatchSettingsError(ValueError):
    """A batching setting in the model's environment is out of range or not a number."""


@dataclass(frozen=True)
class BatchSettings:
    """How a replica batches: on or off, how many rows a batch holds, how long it may wait."""

    enabled: bool = True
    max_rows: int = 128
    max_delay_s: float = 0.0
    custom_predict: bool = False


def batch_settings(environ: Mapping[str, str]) -> BatchSettings:
    """The batching settings in a model's environment; :class:`BatchSettingsError` if bad."""
    return BatchSettings(
        enabled=_flag(environ, "KILN_BATCHING", True),
        max_rows=_max_rows(environ.get("KILN_MAX_BATCH_SIZE")),
        max_delay_s=_max_delay_ms(environ.get("KILN_MAX_BATCH_DELAY_MS")) / 1000,
        custom_predict=_flag(environ, "KILN_BATCH_CUSTOM_PREDICT", False),
    )


def _flag(environ: Mapping[str, str], name: str, default: bool) -> bool:
    value = environ.get(name)
    if value is None or not value.strip():
        return default
    word = value.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise BatchSettingsError(f"{name} must be true/on or false/off, not {value!r}")


def _max_rows(value: str | None) -> int:
    if value is None or not value.strip():
        return BatchSettings.max_rows
    try:
        rows = int(value.strip())
    except ValueError:
        rows = 0
    if not 1 <= rows <= MAX_ROWS_LIMIT:
        raise BatchSettingsError(
            f"KILN_MAX_BATCH_SIZE must be a whole number of rows from 1 to {MAX_ROWS_LIMIT}, "
            f"not {value!r}"
        )
    return rows


def _max_delay_ms(value: str | None) -> float:
    if value is None or not value.strip():
        return 0.0
    try:
        delay = float(value.strip())
    except ValueError:
        delay = -1.0
    # not (0 <= delay <= limit) also refuses NaN.
    if not 0 <= delay <= MAX_DELAY_MS_LIMIT:
        raise BatchSettingsError(
            f"KILN_MAX_BATCH_DELAY_MS must be a number of milliseconds from 0 to "
            f"{MAX_DELAY_MS_LIMIT:g}, not {value!r}"
        )
    return delay
