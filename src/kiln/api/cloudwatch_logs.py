"""CloudWatch Logs over JSON 1.1: ``X-Amz-Target: Logs_20140328.<Op>`` (botocore's ``logs``).

    DescribeLogGroups   {logGroupNamePrefix | logGroupNamePattern, limit ≤ 50, nextToken}
                        → {logGroups: [{logGroupName, creationTime, arn, storedBytes, …}],
                           nextToken?}
    DescribeLogStreams  {logGroupName | logGroupIdentifier, logStreamNamePrefix,
                         orderBy LogStreamName|LastEventTime, descending, limit ≤ 50, nextToken}
                        → {logStreams: [{logStreamName, creationTime, firstEventTimestamp,
                           lastEventTimestamp, lastIngestionTime, arn, storedBytes}], nextToken?}
    GetLogEvents        {logGroupName, logStreamName, startTime, endTime, startFromHead,
                         limit ≤ 10000, nextToken f/… | b/…}
                        → {events: [{timestamp, message, ingestionTime}],
                           nextForwardToken, nextBackwardToken}
    FilterLogEvents     {logGroupName, logStreamNames | logStreamNamePrefix, startTime, endTime,
                         filterPattern (terms), limit ≤ 10000, nextToken}
                        → {events: [{logStreamName, timestamp, message, ingestionTime, eventId}],
                           searchedLogStreams, nextToken?}

Errors: ``ResourceNotFoundException`` for a missing group or stream, ``InvalidParameterException``
for everything the request got wrong (tokens, limits, patterns, botocore's model checks).
"""

from __future__ import annotations

from kiln.api.json_protocol import ErrorCodes, JsonApi
from kiln.errors import ResourceNotFoundError
from kiln.services.logs.cloudwatch import CloudWatchLogs

ERROR_CODES: ErrorCodes = [(ResourceNotFoundError, "ResourceNotFoundException")]


def logs_api(service: CloudWatchLogs, *, check_responses: bool = False) -> JsonApi:
    """CloudWatch Logs' read operations over ``service``."""
    operations = {
        "DescribeLogGroups": service.describe_log_groups,
        "DescribeLogStreams": service.describe_log_streams,
        "GetLogEvents": service.get_log_events,
        "FilterLogEvents": service.filter_log_events,
    }
    return JsonApi(
        "logs",
        operations,
        ERROR_CODES,
        default_code="InvalidParameterException",
        check_responses=check_responses,
    )
