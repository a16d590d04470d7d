"""FilterLogEvents' ``filterPattern``: the term subset Kiln supports, as pure functions.

    ERROR                  events containing ``ERROR`` (case-sensitive)
    ERROR timeout          events containing both
    "connection reset"     the exact phrase
    ?ERROR ?WARN           events containing at least one of the ``?`` terms
    ERROR -retrying        ``ERROR`` but not ``retrying`` (``-"a phrase"`` too)
    (empty)                every event

JSON patterns (``{ $.level = … }``), space-delimited patterns (``[ip, user, …]``) and regular
expressions (``%…%``) are refused with InvalidParameterException.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kiln.errors import ValidationError

_TERM = re.compile(r'([-?]?)("(?:[^"\\]|\\.)*"|\S+)')


@dataclass(frozen=True)
class FilterPattern:
    """Terms an event must all contain, may contain one of, and must not contain."""

    required: tuple[str, ...] = ()
    any_of: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()

    def matches(self, message: str) -> bool:
        """Whether ``message`` passes."""
        return (
            all(term in message for term in self.required)
            and (not self.any_of or any(term in message for term in self.any_of))
            and not any(term in message for term in self.excluded)
        )


def parse_filter_pattern(text: str) -> FilterPattern:
    """The pattern ``text`` spells; ``ValidationError`` for the kinds Kiln does not support."""
    stripped = text.strip()
    if stripped[:1] in ("{", "[", "%"):
        raise ValidationError(
            f"Invalid filter pattern {text!r}: Kiln supports term patterns only "
            '(words, "quoted phrases", ?either, -excluded), not JSON, space-delimited '
            "or regular-expression patterns"
        )
    required: list[str] = []
    any_of: list[str] = []
    excluded: list[str] = []
    for sign, raw in _TERM.findall(stripped):
        term = _unquote(raw) if raw.startswith('"') else raw
        if not term:
            continue
        {"": required, "?": any_of, "-": excluded}[sign].append(term)
    return FilterPattern(tuple(required), tuple(any_of), tuple(excluded))


def _unquote(raw: str) -> str:
    inner = raw[1:-1] if len(raw) >= 2 and raw.endswith('"') else raw[1:]
    return re.sub(r"\\(.)", r"\1", inner)
