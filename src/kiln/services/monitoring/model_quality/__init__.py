"""Model quality: captured predictions joined with ground truth by inference id, scored as
SageMaker Model Monitor's model quality container scores them.

``evaluate_model_quality`` reads one window's capture and ground-truth files, joins them
(``join``), reads each pair's label and prediction (``samples``), computes the problem type's
metrics into statistics.json (``statistics``) and checks them against a baseline's
constraints.json (``constraints``). ``suggest_constraints`` turns a baseline's statistics into
constraints. Nothing here does IO beyond reading the files it is given.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kiln.services.monitoring.model_quality.config import (
        ModelQualityConfig as ModelQualityConfig,
    )
    from kiln.services.monitoring.model_quality.config import ProblemType as ProblemType
    from kiln.services.monitoring.model_quality.constraints import (
        InvalidConstraints as InvalidConstraints,
    )
    from kiln.services.monitoring.model_quality.evaluation import QualityReport as QualityReport
    from kiln.services.monitoring.model_quality.evaluation import (
        evaluate_model_quality as evaluate_model_quality,
    )
    from kiln.services.monitoring.model_quality.evaluation import (
        suggest_constraints as suggest_constraints,
    )
    from kiln.services.monitoring.model_quality.join import JoinCounts as JoinCounts

# Names load on first use: scoring needs numpy, which ``kiln server`` must not pay for at start.
_HOMES = {
    "ModelQualityConfig": "config",
    "ProblemType": "config",
    "InvalidConstraints": "constraints",
    "QualityReport": "evaluation",
    "evaluate_model_quality": "evaluation",
    "suggest_constraints": "evaluation",
    "JoinCounts": "join",
}

__all__ = [
    "InvalidConstraints",
    "JoinCounts",
    "ModelQualityConfig",
    "ProblemType",
    "QualityReport",
    "evaluate_model_quality",
    "suggest_constraints",
]


def __getattr__(name: str) -> object:
    """Import the submodule that defines ``name`` when it is first asked for."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
