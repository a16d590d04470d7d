"""The JSON 1.1 error document (CONTRACTS.md §3.1).

Body ``{"__type": code, "message": text}``; botocore reads the code from ``__type`` only. Each
protocol module maps Kiln's exceptions to its own service's codes (``api/sagemaker.py``, …).
"""

from __future__ import annotations


def error_body(code: str, message: str) -> dict[str, str]:
    """The JSON 1.1 error document."""
    return {"__type": code, "message": message}
