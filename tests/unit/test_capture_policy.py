"""When the capture writer writes, retries or drops."""

from __future__ import annotations

import pytest

from kiln.config import Settings
from kiln.services.monitoring.capture import capture_policy
from kiln.services.monitoring.capture.policy import (
    CapturePolicy,
    Held,
    has_room,
    is_due,
    is_full,
    retry_delay,
)

POLICY = CapturePolicy(
    flush_seconds=60, file_bytes=1000, buffer_records=10, buffer_bytes=5000, retry_first_seconds=1
)


@pytest.mark.parametrize(
    ("held", "size", "expected"),
    [
        (Held(0, 0), 100, True),
        (Held(9, 4000), 1000, True),  # 10th record, exactly 5000 bytes: fits
        (Held(10, 0), 1, False),  # records bound
        (Held(9, 4001), 1000, False),  # 5001 bytes > 5000
        (Held(0, 0), 5001, False),  # one record larger than the whole bound
    ],
)
def test_has_room_within_both_bounds(held: Held, size: int, expected: bool) -> None:
    assert has_room(held, size, POLICY) is expected


@pytest.mark.parametrize(("size", "expected"), [(999, False), (1000, True), (5000, True)])
def test_is_full_at_the_file_size(size: int, expected: bool) -> None:
    assert is_full(size, POLICY) is expected


@pytest.mark.parametrize(
    ("opened_at", "now", "expected"),
    [(100.0, 159.9, False), (100.0, 160.0, True), (100.0, 500.0, True)],
)
def test_is_due_after_flush_seconds(opened_at: float, now: float, expected: bool) -> None:
    assert is_due(opened_at, now, POLICY) is expected


@pytest.mark.parametrize(
    ("failures", "delay"),
    [
        (1, 1.0),
        (2, 2.0),
        (3, 4.0),
        (6, 32.0),
        (7, 60.0),  # 64 capped at flush_seconds
        (10_000, 60.0),  # no overflow however long the store stays down
    ],
)
def test_retry_delay_doubles_up_to_the_flush_interval(failures: int, delay: float) -> None:
    assert retry_delay(failures, POLICY) == delay


def test_policy_comes_from_kiln_capture_settings() -> None:
    settings = Settings.from_env(
        {
            "KILN_HOME": "/tmp/kiln-capture-policy",
            "KILN_ACCESS_KEY_ID": "AKIKTEST",
            "KILN_SECRET_ACCESS_KEY": "secret",
            "KILN_CAPTURE_FLUSH_SECONDS": "0.5",
            "KILN_CAPTURE_FILE_KIB": "64",
            "KILN_CAPTURE_BUFFER_RECORDS": "100",
            "KILN_CAPTURE_BUFFER_MIB": "2",
        }
    )
    assert capture_policy(settings) == CapturePolicy(
        flush_seconds=0.5,
        file_bytes=64 * 1024,
        buffer_records=100,
        buffer_bytes=2 * 1024 * 1024,
        retry_first_seconds=0.5,
    )


def test_defaults_are_sagemakers_scale() -> None:
    settings = Settings.from_env({"KILN_ACCESS_KEY_ID": "AKIKTEST", "KILN_SECRET_ACCESS_KEY": "s"})
    assert capture_policy(settings) == CapturePolicy()  # 60 s, 1 MiB files, 10,000 / 64 MiB


@pytest.mark.parametrize(
    ("name", "value"),
    [("KILN_CAPTURE_BUFFER_RECORDS", "0"), ("KILN_CAPTURE_FLUSH_SECONDS", "-1")],
)
def test_bad_capture_settings_are_refused_naming_them(name: str, value: str) -> None:
    env = {"KILN_ACCESS_KEY_ID": "AKIKTEST", "KILN_SECRET_ACCESS_KEY": "s", name: value}
    with pytest.raises(ValueError, match=name):
        Settings.from_env(env)
