"""An endpoint's timeline through a real server: real invocations of the small model, drift
metrics put through CloudWatch's ``PutMetricData`` in the data-metrics namespace (as the
monitoring executions publish them into the same store), read back through the route, the SDK
and ``kiln monitor``.
"""

from __future__ import annotations

import json
import time
import urllib.error
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from botocore.exceptions import ClientError
from typer.testing import CliRunner

from conftest import Kiln, deploy, make_settings, sklearn_model_files, start_kiln, upload_model
from kiln import endpoint_timeline
from kiln.cli import app
from kiln.config import Credentials
from kiln.sdk import Session
from kiln.sdk.signing import call_native
from kiln.services.monitoring.outcomes import DATA_METRICS_NAMESPACE, DriftMetric, drift_metric_name

pytestmark = pytest.mark.slow

ENDPOINT = "timeline"
SCHEDULE = "timeline-hourly"
ROW = ",".join(["1.0"] * 30)
INVOCATIONS = 5
DRIFT = {("f0", DriftMetric.BASELINE_DRIFT): 0.12, ("f0", DriftMetric.PSI): 0.31,
         ("f1", DriftMetric.BASELINE_DRIFT): 0.05}  # fmt: skip


@pytest.fixture(scope="module")
def kiln(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kiln]:
    """One server with one endpoint, invoked a few times, and drift metrics for two features."""
    home: Path = tmp_path_factory.mktemp("timeline")
    with start_kiln(make_settings(home / "kiln-home", f"sqlite:///{home / 'kiln.db'}")) as server:
        deploy(
            server, ENDPOINT, {"AllTraffic": (upload_model(server, sklearn_model_files()), 1, 1.0)}
        )
        runtime = server.client("sagemaker-runtime")
        for _ in range(INVOCATIONS):
            runtime.invoke_endpoint(EndpointName=ENDPOINT, Body=ROW, ContentType="text/csv")
        dimensions = [{"Name": "Endpoint", "Value": ENDPOINT},
                      {"Name": "MonitoringSchedule", "Value": SCHEDULE}]  # fmt: skip
        server.client("cloudwatch").put_metric_data(
            Namespace=DATA_METRICS_NAMESPACE,
            MetricData=[
                {"MetricName": drift_metric_name(measure, feature), "Dimensions": dimensions,
                 "Value": value, "Timestamp": time.time()}
                for (feature, measure), value in DRIFT.items()
            ],
        )  # fmt: skip
        yield server


@pytest.fixture(scope="module")
def session(kiln: Kiln) -> Session:
    return Session(replace(kiln.settings, endpoint=kiln.endpoint))


def _route(session: Session, endpoint: str = ENDPOINT, **query: str) -> Any:
    path = f"/kiln/v1/endpoints/{endpoint}/timeline"
    return call_native(session.settings, "GET", f"{path}?{urlencode(query)}" if query else path)


def _error(session: Session, endpoint: str = ENDPOINT, **query: str) -> tuple[int, str, str]:
    with pytest.raises(urllib.error.HTTPError) as raised:
        _route(session, endpoint, **query)
    body = json.loads(raised.value.read())
    return raised.value.code, body["__type"], body["message"]


def test_the_route_answers_series_of_points_with_units_per_variant_and_feature(
    session: Session,
) -> None:
    document = _route(session, period="5m")
    assert document["Period"] == 300
    [variant] = document["Variants"]
    assert variant["VariantName"] == "AllTraffic"
    series = {(s["Metric"], s["Statistic"]): s for s in variant["Series"]}
    invocations = series[("Invocations", "Sum")]
    assert sum(p["value"] for p in invocations["Points"]) == INVOCATIONS
    assert set(invocations["Points"][0]) == {"t", "value"}
    assert series[("ModelLatency", "p99")]["Unit"] == "Microseconds"
    assert max(p["value"] or 0 for p in series[("ModelLatency", "p99")]["Points"]) > 0
    features = {(f["FeatureName"], f["MonitoringSchedule"]): f for f in document["Features"]}
    assert set(features) == {("f0", SCHEDULE), ("f1", SCHEDULE)}
    f0 = {s["Metric"]: s for s in features[("f0", SCHEDULE)]["Series"]}
    assert list(f0) == ["feature_baseline_drift", "kiln_feature_psi"]
    assert [p["value"] for p in f0["kiln_feature_psi"]["Points"] if p["value"] is not None] == [
        pytest.approx(0.31)
    ]


def test_the_sdk_reads_the_same_timeline_typed(session: Session) -> None:
    timeline = endpoint_timeline(ENDPOINT, 1800, session=session)
    assert timeline.period == 60
    [variant] = timeline.variants
    invocations = variant.find("Invocations", "Sum")
    assert invocations is not None
    assert sum(v or 0 for v in invocations.values()) == INVOCATIONS
    f1 = next(f for f in timeline.features if f.feature == "f1")
    drift = f1.find("feature_baseline_drift")
    assert drift is not None
    assert [v for v in drift.values() if v is not None] == [pytest.approx(0.05)]


def test_kiln_monitor_traffic_and_drift_draw_charts(kiln: Kiln) -> None:
    env = {"KILN_HOME": str(kiln.settings.home), "KILN_ENDPOINT": kiln.endpoint}
    traffic = CliRunner().invoke(app, ["monitor", "traffic", ENDPOINT, "--since", "30m"], env=env)
    assert traffic.exit_code == 0, traffic.output
    assert "invocations" in traffic.output
    assert "latency p99 ms" in traffic.output
    drift = CliRunner().invoke(app, ["monitor", "drift", ENDPOINT, "--since", "1h"], env=env)
    assert drift.exit_code == 0, drift.output
    assert "kiln_feature_psi" in drift.output
    as_json = CliRunner().invoke(app, ["monitor", "drift", ENDPOINT, "--json"], env=env)
    assert json.loads(as_json.output)["EndpointName"] == ENDPOINT


def test_an_unknown_endpoint_is_resource_not_found(session: Session) -> None:
    assert _error(session, "no-such-endpoint")[:2] == (404, "ResourceNotFound")
    with pytest.raises(ClientError) as raised:
        endpoint_timeline("no-such-endpoint", session=session)
    assert raised.value.response["Error"]["Code"] == "ResourceNotFound"


@pytest.mark.parametrize(
    ("query", "quoted"),
    [
        ({"start": "2024-05-02T00:00:00Z", "end": "2024-05-01T00:00:00Z"}, "must be before"),
        ({"period": "90"}, "multiple of 60 seconds, not 90"),
        ({"period": "soon"}, "'soon'"),
        ({"start": "yesterday"}, "'yesterday'"),
        ({"start": "0", "period": "60"}, "more than 1440"),
    ],
)
def test_a_bad_range_is_a_validation_exception_quoting_it(
    session: Session, query: dict[str, str], quoted: str
) -> None:
    status, code, message = _error(session, **query)
    assert (status, code) == (400, "ValidationException")
    assert quoted in message


def test_the_gate_reads_it_as_cloudwatch_get_metric_data(session: Session) -> None:
    def as_user(user: str, policy: str) -> Session:
        key = call_native(
            session.settings, "POST", "/kiln/v1/keys", {"User": user, "Policy": policy}
        )
        creds = Credentials(key["AccessKeyId"], key["SecretAccessKey"])
        return Session(replace(session.settings, credentials=creds))

    assert endpoint_timeline(ENDPOINT, session=as_user("viewer", "viewer")).variants
    with pytest.raises(ClientError) as refused:
        endpoint_timeline(ENDPOINT, session=as_user("caller", f"invoker:{ENDPOINT}"))
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "cloudwatch:GetMetricData" in refused.value.response["Error"]["Message"]
