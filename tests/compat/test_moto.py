"""moto's own tests/test_sagemaker, unchanged, with moto's mock off and boto3 sent to Kiln."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from conftest import make_settings

from .conftest import IN_CI, LONG_PROFILE_ONLY, PROFILE
from .harness import ClientVenv, client_env, non_loopback_traffic, run_client
from .moto_report import (
    RESULTS,
    MotoFetchError,
    categorise,
    fetch_moto_tests,
    load_categories,
    pinned_moto,
    read_junit,
    selection,
    stale_entries,
    summarise,
    write_report,
)
from .moto_server import MotoEndpoint

# moto's own tests mostly probe built-in algorithm images and moto's wording (3 of 30 pass in
# the old short profile): a long-profile report, too slow for every `make test`.
pytestmark = LONG_PROFILE_ONLY


def _moto_tests() -> Path:
    try:
        return fetch_moto_tests(pinned_moto())
    except MotoFetchError as e:
        if IN_CI:
            pytest.fail(str(e))
        pytest.skip(str(e))


def _server_mode_env(endpoint: str, home: Path) -> dict[str, str]:
    """The client environment, every AWS service sent to ``endpoint``, moto in server mode."""
    env = client_env(make_settings(home / "unused", "sqlite://"), home / "client")
    env = {k: v for k, v in env.items() if not k.startswith("AWS_ENDPOINT_URL")}
    return {
        **env,
        "AWS_ENDPOINT_URL": endpoint,
        "TEST_SERVER_MODE": "true",
        "TEST_SERVER_MODE_ENDPOINT": endpoint,
    }


@pytest.mark.timeout(3600)
def test_moto_sagemaker_tests_pass_or_fail_only_as_categorised(
    moto_client: ClientVenv, tmp_path: Path
) -> None:
    root = _moto_tests()
    tests = selection(root)
    RESULTS.mkdir(exist_ok=True)
    junit = RESULTS / "moto-junit.xml"
    junit.unlink(missing_ok=True)
    started = time.monotonic()
    with MotoEndpoint(tmp_path) as endpoint:
        env = _server_mode_env(endpoint.url, tmp_path)
        argv = [moto_client.python, "-m", "pytest", *tests, "-q", "-p", "no:cacheprovider",
                "-o", "addopts=", f"--junitxml={junit}"]  # fmt: skip
        done = run_client(argv, env, cwd=root, timeout=3000)
        kilns = endpoint.kilns.started
    print(done.stdout[-3000:])
    assert junit.exists(), f"moto's pytest wrote no report; it said:\n{done.stdout[-4000:]}"

    outcomes = read_junit(junit)
    categories = load_categories()
    categorise(outcomes, categories)
    summary = summarise(outcomes, stale_entries(outcomes, categories))
    meta = {"moto": pinned_moto(), "profile": PROFILE, "modules": tests,
            "seconds": round(time.monotonic() - started, 1), "fresh_kilns": kilns}  # fmt: skip
    print(write_report(summary, outcomes, meta))

    assert non_loopback_traffic(env) == []
    assert "uncategorised" not in summary["failures"], "failures to review: see the report above"
    assert "d" not in summary["failures"], "Kiln bugs or missing features: see the report above"
    assert summary["stale_entries"] == [], "these pass now: drop them from moto_categories.yaml"
