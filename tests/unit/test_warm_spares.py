"""Warm spares' decisions, and the go line a spare reads from its control pipe."""

from __future__ import annotations

import os

import pytest

from kiln.runtime.warm import Go, wait_for_go
from kiln.services.hosting.warm_spares import MAX_FAILURES, can_use_spare, spares_to_start


@pytest.mark.parametrize(
    ("environment", "usable"),
    [
        ({}, True),
        ({"SAGEMAKER_PROGRAM": "serve.py", "VERSION": "v2"}, True),  # read when the model loads
        ({"OMP_NUM_THREADS": "1"}, False),  # OpenMP's pool is sized at import
        ({"openblas_num_threads": "1"}, False),  # names are matched whatever their case
        ({"PYTHONHASHSEED": "0"}, False),  # the interpreter read it at start
        ({"LD_PRELOAD": "/x.so"}, False),
    ],
)
def test_a_model_setting_import_time_variables_starts_cold(
    environment: dict[str, str], usable: bool
) -> None:
    assert can_use_spare(environment) is usable


@pytest.mark.parametrize(
    ("wanted", "alive", "failures", "start"),
    [
        (1, 0, 0, 1),
        (2, 1, 0, 1),
        (1, 1, 0, 0),
        (1, 3, 0, 0),  # never stops one to shrink: KILN_WARM_SPARES is read at start
        (1, 0, MAX_FAILURES - 1, 1),
        (1, 0, MAX_FAILURES, 0),  # spares of this key keep dying: stop warming it
    ],
)
def test_spares_to_start(wanted: int, alive: int, failures: int, start: int) -> None:
    assert spares_to_start(wanted, alive, failures) == start


def test_a_go_round_trips_through_the_control_pipe() -> None:
    go = Go(("--model-dir", "/opt/ml/model", "--fd", "7"), {"VERSION": "v2"})
    read, write = os.pipe()
    os.write(write, go.encode())
    os.close(write)
    assert wait_for_go(read) == go


def test_end_of_file_without_a_go_means_the_spare_is_not_wanted() -> None:
    read, write = os.pipe()
    os.close(write)
    assert wait_for_go(read) is None
