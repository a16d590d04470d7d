"""Application Auto Scaling's errors beyond ``ValidationError`` (→ ``ValidationException``).

KilnError
├── ValidationError       bad input, unknown variant      → ValidationException
├── ObjectNotFound        no such target or policy        → ObjectNotFoundException
├── ConflictError         two writes raced                → ConcurrentUpdateException
└── InvalidNextToken      a NextToken Kiln did not give   → InvalidNextTokenException
"""

from __future__ import annotations

from kiln.errors import KilnError


class ObjectNotFound(KilnError):
    """The scalable target or scaling policy named does not exist."""


class InvalidNextToken(KilnError):
    """A ``NextToken`` that no earlier answer gave."""
