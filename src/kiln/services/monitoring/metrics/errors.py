"""CloudWatch's errors for bad input, as its API reference names them.

ValidationError (kiln.errors)
├── InvalidParameterValue         a value CloudWatch refuses (a period, a statistic, a time)
├── InvalidParameterCombination   values that do not go together (too many data points,
│                                 Statistics with ExtendedStatistics, Value with Values)
├── MissingParameter              a member the operation needs in this combination
└── InvalidNextToken              a NextToken this server did not hand out
"""

from __future__ import annotations

from kiln.errors import ValidationError


class InvalidParameterValue(ValidationError):
    """A parameter's value is out of what CloudWatch accepts."""


class InvalidParameterCombination(ValidationError):
    """Parameters that CloudWatch refuses together."""


class MissingParameter(ValidationError):
    """A parameter this combination needs is missing."""


class InvalidNextToken(ValidationError):
    """The ``NextToken`` is not one this server handed out."""
