"""CloudWatch's metric API (botocore's ``cloudwatch``), over JSON 1.0 and the query protocol.

Current botocore speaks JSON 1.0 (``X-Amz-Target: GraniteServiceVersion20100801.<Op>``,
``application/x-amz-json-1.0``, errors with ``x-amzn-query-error``); older botocore and the aws
CLI v1 send the query protocol (form in, XML out; SigV4 scope service ``monitoring``). Both
reach the same ``CloudWatchMetrics`` service (``services/monitoring/metrics/cloudwatch.py``,
whose docstring lists the operations) and ``CloudWatchAlarms`` (``services/monitoring/alarms/``).

Errors: ``InvalidParameterValue``, ``InvalidParameterCombination``, ``MissingParameter``,
``InvalidNextToken``, ``ResourceNotFound`` as CloudWatch's reference names them; the model's own
checks (lengths, ranges, required members) are ``ValidationError``.
"""

from __future__ import annotations

from kiln.api.json_protocol import ErrorCodes, JsonApi, Operation
from kiln.api.query_protocol import QueryApi
from kiln.errors import ResourceNotFoundError
from kiln.services.monitoring.alarms.service import CloudWatchAlarms
from kiln.services.monitoring.metrics import CloudWatchMetrics
from kiln.services.monitoring.metrics.errors import (
    InvalidNextToken,
    InvalidParameterCombination,
    InvalidParameterValue,
    MissingParameter,
)

ERROR_CODES: ErrorCodes = [
    (InvalidParameterValue, "InvalidParameterValue"),
    (InvalidParameterCombination, "InvalidParameterCombination"),
    (MissingParameter, "MissingParameter"),
    (InvalidNextToken, "InvalidNextToken"),
    (ResourceNotFoundError, "ResourceNotFound"),
]


def _operations(service: CloudWatchMetrics, alarms: CloudWatchAlarms) -> dict[str, Operation]:
    return {
        "GetMetricData": service.get_metric_data,
        "GetMetricStatistics": service.get_metric_statistics,
        "ListMetrics": service.list_metrics,
        "PutMetricData": service.put_metric_data,
        "PutMetricAlarm": alarms.put_metric_alarm,
        "DescribeAlarms": alarms.describe_alarms,
        "DeleteAlarms": alarms.delete_alarms,
        "SetAlarmState": alarms.set_alarm_state,
    }


def cloudwatch_api(
    service: CloudWatchMetrics,
    alarms: CloudWatchAlarms,
    *,
    check_responses: bool = False,
) -> JsonApi:
    """CloudWatch's metric (and alarm) operations over JSON 1.0."""
    return JsonApi(
        "cloudwatch",
        _operations(service, alarms),
        ERROR_CODES,
        default_code="ValidationError",
        check_responses=check_responses,
    )


def cloudwatch_query_api(
    service: CloudWatchMetrics,
    alarms: CloudWatchAlarms,
    *,
    check_responses: bool = False,
) -> QueryApi:
    """The same operations over the query protocol, for older clients."""
    return QueryApi(
        "cloudwatch",
        _operations(service, alarms),
        check_responses=check_responses,
        error_codes=ERROR_CODES,
    )
