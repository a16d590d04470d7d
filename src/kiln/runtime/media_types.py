"""Media types as HTTP headers carry them, importing nothing heavy (the server reads them too)."""

from __future__ import annotations


def media_type(header: str | None) -> str:
    """``header`` without parameters, lower-cased: ``"Text/CSV; charset=utf-8"`` → ``text/csv``."""
    return (header or "").partition(";")[0].strip().lower()
