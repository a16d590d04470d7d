"""Which keys a job or replica gets, of which role, for how long: decisions as tables."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiln.config import Credentials, Settings
from kiln.services.process_credentials import (
    JOB_MARGIN_SECONDS,
    KeySource,
    NoKeysForNodesError,
    ProcessKeys,
    check_keys_for_nodes,
    job_session_seconds,
    key_environment,
    key_source,
    session_role,
)

OWNER = Credentials("AKIKOWNER", "owner-secret")
STORE = Credentials("minio-key", "minio-secret")


@pytest.mark.parametrize(
    ("embedded", "store", "expected"),
    [
        (True, OWNER, KeySource.SESSION),  # the front checks sessions
        (False, STORE, KeySource.STORE),  # an external store knows only its own keys
        (False, OWNER, KeySource.NONE),  # the store's keys are the owner's: no job gets them
    ],
)
def test_keys_come_from_a_session_or_the_store_never_the_owner(
    embedded: bool, store: Credentials, expected: KeySource
) -> None:
    assert key_source(embedded, store, OWNER) is expected


def _settings(home: Path, **env: str) -> Settings:
    owner = {"KILN_ACCESS_KEY_ID": OWNER.access_key_id, "KILN_SECRET_ACCESS_KEY": "o" * 40}
    return Settings.from_env({"KILN_HOME": str(home), **owner, **env})


EXTERNAL = {"KILN_S3_ENDPOINT_URL": "http://seaweed:8333"}
STORE_KEYS = {"KILN_S3_ACCESS_KEY_ID": "store-key", "KILN_S3_SECRET_ACCESS_KEY": "s" * 40}
RAY = {"KILN_BACKEND": "ray", "KILN_RAY_ADDRESS": "127.0.0.1:6379"}


@pytest.mark.parametrize(
    "env",
    [
        {},  # the embedded store: sessions
        EXTERNAL,  # the server stages; jobs only get no keys (a warning)
        {**EXTERNAL, **STORE_KEYS, **RAY},
        {**EXTERNAL, **STORE_KEYS, "KILN_STAGING": "node"},
        RAY,
    ],
)
def test_a_server_whose_jobs_can_reach_the_store_starts(
    tmp_path: Path, env: dict[str, str]
) -> None:
    check_keys_for_nodes(_settings(tmp_path, **env))


@pytest.mark.parametrize("staging", [RAY, {"KILN_STAGING": "node"}])
def test_jobs_that_stage_on_nodes_without_keys_refuse_the_start(
    tmp_path: Path, staging: dict[str, str]
) -> None:
    with pytest.raises(NoKeysForNodesError, match="Set KILN_S3_ACCESS_KEY_ID/KILN_S3_SECRET"):
        check_keys_for_nodes(_settings(tmp_path, **EXTERNAL, **staging))


@pytest.mark.parametrize(
    ("role_arn", "kind", "expected"),
    [
        ("arn:aws:iam::000000000000:role/scoped", "role", "scoped"),
        ("arn:aws:iam::000000000000:role/path/scoped", "role", "scoped"),
        ("arn:aws:iam::000000000000:role/unknown", None, "kiln"),  # no such role: the default
        ("arn:aws:iam::000000000000:role/admin", "user", "kiln"),  # a user is no role to assume
        (None, None, "kiln"),
    ],
)
def test_a_session_is_of_the_named_role_or_the_default(
    role_arn: str | None, kind: str | None, expected: str
) -> None:
    assert session_role(role_arn, kind) == expected


def test_job_keys_outlive_runtime_and_grace_by_the_margin() -> None:
    # 3,600 s of runtime + 120 s of SIGTERM grace + the upload margin
    assert job_session_seconds(3600, 120) == 3600 + 120 + JOB_MARGIN_SECONDS


def test_session_keys_put_their_token_in_the_environment() -> None:
    environment = key_environment(ProcessKeys("ASIK1", "secret", "token"))
    assert environment == {
        "AWS_ACCESS_KEY_ID": "ASIK1",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_SESSION_TOKEN": "token",
    }


def test_no_keys_put_nothing_in_the_environment() -> None:
    assert key_environment(None) == {}
