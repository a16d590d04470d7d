"""Settings are read once from KILN_* variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiln.config import Settings


def test_defaults_live_in_kiln_home(tmp_path: Path) -> None:
    settings = Settings.from_env({"KILN_HOME": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path / 'kiln.db'}"
    assert settings.storage_dir == tmp_path / "storage"
    assert settings.is_embedded_s3
    assert settings.s3_endpoint_url == "http://127.0.0.1:9000"
    assert settings.endpoint == "http://127.0.0.1:8080"


def test_generated_credentials_are_kept_and_reused(tmp_path: Path) -> None:
    first = Settings.from_env({"KILN_HOME": str(tmp_path)}).credentials
    second = Settings.from_env({"KILN_HOME": str(tmp_path)}).credentials
    assert first == second
    assert len(first.access_key_id) == 20
    assert len(first.secret_access_key) == 40
    assert (tmp_path / "credentials.json").stat().st_mode & 0o777 == 0o600


def test_explicit_credentials_win(tmp_path: Path) -> None:
    env = {
        "KILN_HOME": str(tmp_path),
        "KILN_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "KILN_SECRET_ACCESS_KEY": "s",
    }
    settings = Settings.from_env(env)
    assert settings.credentials.access_key_id == "AKIDEXAMPLE"
    assert not (tmp_path / "credentials.json").exists()


def test_external_store_turns_off_the_embedded_one(tmp_path: Path) -> None:
    env = {
        "KILN_HOME": str(tmp_path),
        "KILN_S3_ENDPOINT_URL": "http://minio:9000",
        "KILN_S3_ACCESS_KEY_ID": "m",
    }
    settings = Settings.from_env(env)
    assert not settings.is_embedded_s3
    assert settings.s3_endpoint_url == "http://minio:9000"
    assert settings.s3_credentials.access_key_id == "m"


def test_with_ports_moves_the_default_endpoint(tmp_path: Path) -> None:
    settings = Settings.from_env({"KILN_HOME": str(tmp_path)}).with_ports(port=9999)
    assert settings.endpoint == "http://127.0.0.1:9999"


def test_bad_number_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="KILN_PORT='eighty'"):
        Settings.from_env({"KILN_HOME": str(tmp_path), "KILN_PORT": "eighty"})


@pytest.mark.parametrize(
    ("raw", "strict"), [("1", True), ("true", True), ("0", False), ("", False)]
)
def test_strict_capacity_is_a_flag(tmp_path: Path, raw: str, strict: bool) -> None:
    env = {"KILN_HOME": str(tmp_path), "KILN_STRICT_CAPACITY": raw}
    assert Settings.from_env(env).strict_capacity is strict


def test_strict_capacity_refuses_what_is_no_flag(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="KILN_STRICT_CAPACITY='maybe'"):
        Settings.from_env({"KILN_HOME": str(tmp_path), "KILN_STRICT_CAPACITY": "maybe"})


def test_capacity_gpus_can_be_set(tmp_path: Path) -> None:
    env = {"KILN_HOME": str(tmp_path), "KILN_CAPACITY_GPUS": "2"}
    assert Settings.from_env(env).capacity_gpus == 2


def test_every_instance_type_is_known_by_default(tmp_path: Path) -> None:
    settings = Settings.from_env({"KILN_HOME": str(tmp_path)})
    assert settings.instance_types["ml.c4.2xlarge"].vcpus == 8


def test_unknown_sandbox_mode_is_named_with_the_choices(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="KILN_SANDBOX='strict' is not one of auto, required, off"):
        Settings.from_env({"KILN_HOME": str(tmp_path), "KILN_SANDBOX": "strict"})


def test_pids_limit_defaults_to_4096_and_must_be_positive(tmp_path: Path) -> None:
    assert Settings.from_env({"KILN_HOME": str(tmp_path)}).pids_max == 4096
    with pytest.raises(ValueError, match="KILN_PIDS_MAX=0 must be at least 1"):
        Settings.from_env({"KILN_HOME": str(tmp_path), "KILN_PIDS_MAX": "0"})


def test_private_paths_are_kiln_home_and_the_database_folder(tmp_path: Path) -> None:
    env = {
        "KILN_HOME": str(tmp_path / "home"),
        "KILN_DATABASE_URL": f"sqlite:///{tmp_path}/db/k.db",
    }
    assert Settings.from_env(env).private_paths == (tmp_path / "home", tmp_path / "db")


def test_embedded_store_clients_sign_with_kilns_own_keys(tmp_path: Path) -> None:
    env = {
        "KILN_HOME": str(tmp_path),
        "KILN_S3_ACCESS_KEY_ID": "m",
        "KILN_S3_SECRET_ACCESS_KEY": "s",
    }
    settings = Settings.from_env(env)
    assert settings.s3_credentials == settings.credentials


def test_failed_upload_keep_hours_is_read_and_must_not_be_negative(tmp_path: Path) -> None:
    env = {"KILN_HOME": str(tmp_path), "KILN_FAILED_UPLOAD_KEEP_HOURS": "0.5"}
    assert Settings.from_env(env).failed_upload_keep_hours == 0.5
    assert Settings.from_env({"KILN_HOME": str(tmp_path)}).failed_upload_keep_hours == 24
    with pytest.raises(ValueError, match="KILN_FAILED_UPLOAD_KEEP_HOURS='-1' must be 0 or more"):
        Settings.from_env({**env, "KILN_FAILED_UPLOAD_KEEP_HOURS": "-1"})


def test_scale_to_zero_waits_300_seconds_by_default_and_refuses_0(tmp_path: Path) -> None:
    assert Settings.from_env({"KILN_HOME": str(tmp_path)}).scale_to_zero_after_seconds == 300.0
    with pytest.raises(ValueError, match="KILN_SCALE_TO_ZERO_AFTER_SECONDS=0 must be more than 0"):
        Settings.from_env({"KILN_HOME": str(tmp_path), "KILN_SCALE_TO_ZERO_AFTER_SECONDS": "0"})


def test_the_autoscaler_tick_refuses_a_negative_number(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="KILN_AUTOSCALE_TICK_SECONDS='-1' must be 0 or more"):
        Settings.from_env({"KILN_HOME": str(tmp_path), "KILN_AUTOSCALE_TICK_SECONDS": "-1"})


@pytest.mark.parametrize(("raw", "enabled"), [(None, True), ("1", True), ("0", False)])
def test_training_baselines_are_on_unless_turned_off(
    tmp_path: Path, raw: str | None, enabled: bool
) -> None:
    env = {"KILN_HOME": str(tmp_path)}
    if raw is not None:
        env["KILN_TRAINING_BASELINES"] = raw
    assert Settings.from_env(env).training_baselines is enabled


@pytest.mark.parametrize(
    ("variable", "raw"),
    [
        ("KILN_MONITOR_TICK_SECONDS", "0"),
        ("KILN_MONITOR_WORKERS", "0"),
        ("KILN_DATA_WATCH_SECONDS", "-1"),
        ("KILN_WEBHOOK_ATTEMPTS", "0"),
        ("KILN_WEBHOOK_TIMEOUT_SECONDS", "0"),
        ("KILN_WEBHOOK_BACKOFF_SECONDS", "soon"),
    ],
)
def test_monitoring_settings_refuse_what_cannot_work(
    tmp_path: Path, variable: str, raw: str
) -> None:
    with pytest.raises(ValueError, match=variable):
        Settings.from_env({"KILN_HOME": str(tmp_path), variable: raw})


def test_monitoring_settings_have_their_documented_defaults(tmp_path: Path) -> None:
    settings = Settings.from_env({"KILN_HOME": str(tmp_path)})
    assert (settings.monitor_tick_seconds, settings.monitor_workers) == (1.0, 2)
    assert (settings.data_watch_seconds, settings.webhook_attempts) == (30.0, 4)
    assert (settings.webhook_backoff_seconds, settings.webhook_timeout_seconds) == (1.0, 10.0)


@pytest.mark.parametrize(
    ("database_url", "store"),
    [
        ("sqlite:////srv/kiln.db", "files"),  # one server: its own disk is the cheaper store
        ("postgresql+psycopg://kiln@db/kiln", "database"),  # servers may share it
        ("postgresql://kiln@db/kiln", "database"),
        ("postgres://kiln@db/kiln", "database"),
        ("mysql://kiln@db/kiln", "files"),
    ],
)
def test_the_log_store_defaults_to_the_database_on_postgresql(
    tmp_path: Path, database_url: str, store: str
) -> None:
    env = {"KILN_HOME": str(tmp_path), "KILN_DATABASE_URL": database_url}
    assert Settings.from_env(env).log_store == store


def test_the_log_store_setting_wins_and_refuses_an_unknown_store(tmp_path: Path) -> None:
    env = {"KILN_HOME": str(tmp_path), "KILN_DATABASE_URL": "postgresql://kiln@db/kiln"}
    assert Settings.from_env({**env, "KILN_LOG_STORE": "files"}).log_store == "files"
    with pytest.raises(ValueError, match="KILN_LOG_STORE='s3' is not one of files, database"):
        Settings.from_env({**env, "KILN_LOG_STORE": "s3"})
