"""The sagemaker SDK v2's DefaultModelMonitor, unchanged, on an endpoint that captures its data.

Nothing here knows about Kiln: endpoints, region, credentials and the default bucket come from
the environment and the SDK config file, as they would for AWS. The baseline files were written
elsewhere (no ``suggest_baseline``: it starts a processing job) and are given by their URIs.

    python model_monitor_v2.py ENDPOINT ROLE_ARN STATISTICS_URI CONSTRAINTS_URI OUTPUT_URI ROWS_CSV

1. an hourly schedule: create, describe, list executions, stop, start, delete;
2. traffic through ``Predictor`` (CSV), then a one-time (``NOW``) schedule over the last hour,
   its execution awaited with ``list_executions()``, and its files read back with
   ``latest_monitoring_statistics()`` and ``latest_monitoring_constraint_violations()``, and
   its log printed by ``get_latest_execution_logs()``.

Prints each step and on its last line ``RESULT {json}`` with what the test checks.
"""

import json
import sys
import time

import numpy as np
from sagemaker.model_monitor import CronExpressionGenerator, DefaultModelMonitor
from sagemaker.predictor import Predictor
from sagemaker.serializers import CSVSerializer

endpoint, role, statistics, constraints, output, rows_csv = sys.argv[1:7]
result = {}
FINISHED = ("Completed", "Failed", "Stopped")


STARTED = time.monotonic()


def step(text):
    print(f"\n### {time.monotonic() - STARTED:5.1f} s  {text}", flush=True)


def monitor():
    return DefaultModelMonitor(role=role, instance_count=1, instance_type="ml.m5.xlarge")


def schedule_gone(monitor_object, name):
    """Whether DescribeMonitoringSchedule now answers ResourceNotFound for ``name``."""
    client = monitor_object.sagemaker_session.sagemaker_client
    try:
        client.describe_monitoring_schedule(MonitoringScheduleName=name)
    except client.exceptions.ResourceNotFound:
        return True
    return False


def definition_gone(monitor_object, name):
    """Whether DescribeDataQualityJobDefinition now answers ResourceNotFound for ``name``."""
    client = monitor_object.sagemaker_session.sagemaker_client
    try:
        client.describe_data_quality_job_definition(JobDefinitionName=name)
    except client.exceptions.ResourceNotFound:
        return True
    return False


step("DefaultModelMonitor.create_monitoring_schedule, hourly, with baseline files by URI")
hourly = monitor()
hourly.create_monitoring_schedule(
    endpoint_input=endpoint,
    output_s3_uri=output,
    statistics=statistics,
    constraints=constraints,
    schedule_cron_expression=CronExpressionGenerator.hourly(),
)
name, definition = hourly.monitoring_schedule_name, hourly.job_definition_name
print("schedule:", name, "job definition:", definition)

step("describe_schedule() and list_executions()")
described = hourly.describe_schedule()
config = described["MonitoringScheduleConfig"]
result["hourly"] = {
    "status": described["MonitoringScheduleStatus"],
    "expression": config["ScheduleConfig"]["ScheduleExpression"],
    "type": described["MonitoringType"],
    "endpoint": described["EndpointName"],
    "definition": config["MonitoringJobDefinitionName"],
    "sdk_definition": definition,
    "executions": len(hourly.list_executions()),
}
print(json.dumps(result["hourly"], indent=1))
job = hourly.sagemaker_session.sagemaker_client.describe_data_quality_job_definition(
    JobDefinitionName=definition
)
result["hourly"]["baseline"] = job["DataQualityBaselineConfig"]
result["hourly"]["input_endpoint"] = job["DataQualityJobInput"]["EndpointInput"]["EndpointName"]

step("stop_monitoring_schedule() and start_monitoring_schedule()")
hourly.stop_monitoring_schedule()
result["hourly"]["stopped"] = hourly.describe_schedule()["MonitoringScheduleStatus"]
hourly.start_monitoring_schedule()
result["hourly"]["started"] = hourly.describe_schedule()["MonitoringScheduleStatus"]
print("stopped →", result["hourly"]["stopped"], "started →", result["hourly"]["started"])

step("delete_monitoring_schedule() (the schedule, then its job definition)")
hourly.delete_monitoring_schedule()
result["hourly"]["schedule_gone"] = schedule_gone(hourly, name)
result["hourly"]["definition_gone"] = definition_gone(hourly, definition)

step("traffic through Predictor with CSVSerializer")
rows = np.loadtxt(rows_csv, delimiter=",")
predictor = Predictor(endpoint, serializer=CSVSerializer())
for chunk in np.array_split(rows, 10):
    predictor.predict(chunk)
result["sent"] = len(rows)

step("a one-time schedule (CronExpressionGenerator.now()) over the last hour")
once = monitor()
once.create_monitoring_schedule(
    endpoint_input=endpoint,
    output_s3_uri=output,
    statistics=statistics,
    constraints=constraints,
    schedule_cron_expression=CronExpressionGenerator.now(),
    data_analysis_start_time="-PT1H",
    data_analysis_end_time="PT0H",
)
deadline = time.monotonic() + 90
while True:  # poll with a timeout: the execution runs once the captures have settled
    executions = once.list_executions()
    if executions and executions[-1].describe()["ProcessingJobStatus"] in FINISHED:
        break
    if time.monotonic() > deadline:
        raise SystemExit("no finished execution of the one-time schedule within 90 s")
    time.sleep(0.5)
latest = executions[-1].describe()
result["once"] = {
    "job_status": latest["ProcessingJobStatus"],
    "exit_message": latest.get("ExitMessage", ""),
    "output": executions[-1].output.destination,
}
print(json.dumps(result["once"], indent=1))

step("latest_monitoring_statistics() and latest_monitoring_constraint_violations()")
result["statistics"] = once.latest_monitoring_statistics().body_dict
result["violations"] = once.latest_monitoring_constraint_violations().body_dict
print("violations:", json.dumps(result["violations"], indent=1))

step("get_latest_execution_logs() (the SDK prints the execution's log)")
once.get_latest_execution_logs(wait=False)
once.delete_monitoring_schedule()

print("RESULT " + json.dumps(result))
