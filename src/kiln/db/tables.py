"""The metadata tables. Portable SQL only: SQLite and PostgreSQL run the same statements.

Each resource keeps its validated request as JSON (``spec``), what Kiln learnt while running it as
JSON (``state``), and the columns that lists filter and sort on.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

training_jobs = Table(
    "training_jobs",
    metadata,
    Column("name", String(63), primary_key=True),
    Column("arn", String(256), nullable=False),
    Column("status", String(32), nullable=False, index=True),
    Column("secondary_status", String(32), nullable=False),
    Column("creation_time", Float, nullable=False, index=True),
    Column("last_modified_time", Float, nullable=False),
    Column("end_time", Float, nullable=True),
    Column("spec", JSON, nullable=False),
    Column("state", JSON, nullable=False),
)


def _resource_table(name: str) -> Table:
    """A table of the shape every hosting resource shares."""
    return Table(
        name,
        metadata,
        Column("name", String(63), primary_key=True),
        Column("arn", String(256), nullable=False),
        Column("status", String(32), nullable=False, index=name == "endpoints"),
        Column("creation_time", Float, nullable=False, index=True),
        Column("last_modified_time", Float, nullable=False),
        Column("spec", JSON, nullable=False),
        Column("state", JSON, nullable=False),
    )


models = _resource_table("models")
endpoint_configs = _resource_table("endpoint_configs")
endpoints = _resource_table("endpoints")

principals = Table(
    "principals",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("policies", JSON, nullable=False),
    Column("creation_time", Float, nullable=False),
)

credentials = Table(
    "credentials",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("principal", String(64), nullable=False, index=True),
    Column("session_name", String(64), nullable=True),
    Column("secret_sealed", String(512), nullable=True),
    Column("secret_hash", String(64), nullable=True),
    Column("token_hash", String(64), nullable=True),
    Column("description", String(256), nullable=False),
    Column("creation_time", Float, nullable=False),
    Column("expiry_time", Float, nullable=True),
    Column("revoked_time", Float, nullable=True),
)

# The inference log: what feedback and the A/B report need of each invocation that carried an
# InferenceId (production and shadow copies alike), kept for a retention window.
inferences = Table(
    "inferences",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("endpoint", String(63), nullable=False),
    Column("inference_id", String(64), nullable=False),
    Column("variant", String(63), nullable=False),
    Column("is_shadow", Boolean, nullable=False),
    Column("prediction", JSON(none_as_null=True), nullable=True),
    Column("arrived_at", Float, nullable=False, index=True),
    Index("ix_inferences_endpoint_inference_id", "endpoint", "inference_id"),
)

ground_truth = Table(
    "ground_truth",
    metadata,
    Column("endpoint", String(63), primary_key=True),
    Column("inference_id", String(64), primary_key=True),
    Column("label", JSON, nullable=False),
    Column("received_at", Float, nullable=False, index=True),
)

# One row per series and minute as the metrics store flushed it; a minute may have several rows
# (a flush, then a restart or a late PutMetricData), which readers merge.
metric_points = Table(
    "metric_points",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("namespace", String(255), nullable=False),
    Column("metric", String(255), nullable=False),
    Column("dimensions", String(8192), nullable=False),
    Column("minute", Integer, nullable=False, index=True),
    Column("count", Float, nullable=False),
    Column("total", Float, nullable=False),
    Column("low", Float, nullable=False),
    Column("high", Float, nullable=False),
    Column("unit", String(32), nullable=False),
    Column("buckets", JSON, nullable=False),
    Index("ix_metric_points_series", "namespace", "metric", "minute"),
)

# CloudWatch metric alarms: the definition as PutMetricAlarm sent it, and the state the evaluator
# last stored (so DescribeAlarms and rollouts see it across a restart).
alarms = Table(
    "alarms",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("definition", JSON, nullable=False),
    Column("configuration_updated", Float, nullable=False),
    Column("state", String(32), nullable=False),
    Column("state_reason", String(1023), nullable=False),
    Column("state_reason_data", String(4000), nullable=True),
    Column("state_updated", Float, nullable=False),
)

# Application Auto Scaling: SageMaker variants registered for scaling (ResourceId
# endpoint/<e>/variant/<v>; namespace and dimension are always sagemaker's), their policies,
# and every scaling the scaler ran. A target outlives its endpoint, as on AWS.
scalable_targets = Table(
    "scalable_targets",
    metadata,
    Column("resource_id", String(512), primary_key=True),
    Column("arn", String(256), nullable=False),
    Column("min_capacity", Integer, nullable=False),
    Column("max_capacity", Integer, nullable=False),
    Column("role_arn", String(1600), nullable=False),
    Column("suspended", JSON, nullable=False),
    Column("creation_time", Float, nullable=False),
)

scaling_policies = Table(
    "scaling_policies",
    metadata,
    Column("resource_id", String(512), primary_key=True),
    Column("name", String(256), primary_key=True),
    Column("arn", String(1600), nullable=False),
    Column("policy_type", String(32), nullable=False),
    Column("configuration", JSON, nullable=False),
    Column("alarms", JSON, nullable=False),
    Column("creation_time", Float, nullable=False),
)

scaling_activities = Table(
    "scaling_activities",
    metadata,
    Column("activity_id", String(64), primary_key=True),
    Column("resource_id", String(512), nullable=False),
    Column("description", String(1024), nullable=False),
    Column("cause", String(1024), nullable=False),
    Column("status_code", String(32), nullable=False),
    Column("status_message", String(1024), nullable=True),
    Column("start_time", Float, nullable=False),
    Column("end_time", Float, nullable=True),
    Column("desired", Integer, nullable=False),
    Index("ix_scaling_activities_resource_start", "resource_id", "start_time"),
)

# Retraining rules (issue 10, actions): each rule as created, every firing with its evidence
# and what its actions did, and the objects each data rule has counted already.
retraining_rules = Table(
    "retraining_rules",
    metadata,
    Column("name", String(63), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("definition", JSON, nullable=False),
    Column("creation_time", Float, nullable=False),
)

retraining_firings = Table(
    "retraining_firings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("rule_name", String(63), nullable=False),
    Column("event_key", String(512), nullable=False),
    Column("trigger_time", Float, nullable=False),
    Column("status", String(32), nullable=False, index=True),
    Column("evidence", JSON, nullable=False),
    Column("plan", JSON, nullable=False),
    Column("actions", JSON, nullable=False),
    Index("ux_retraining_firings_event", "rule_name", "event_key", unique=True),
)

retraining_seen_objects = Table(
    "retraining_seen_objects",
    metadata,
    Column("rule_name", String(63), primary_key=True),
    Column("key", String(1024), primary_key=True),
    Column("version", String(128), nullable=False),
)

# Model Monitor (issue 10): job definitions (keyed by type and name, as AWS keeps a namespace per
# type), schedules and their executions. One schedule per endpoint and monitoring type (AWS's
# rule) and one execution per schedule and scheduled time (so that neither a second server nor a
# restart runs a window twice) are unique constraints, not checks.
monitoring_job_definitions = Table(
    "monitoring_job_definitions",
    metadata,
    Column("monitoring_type", String(32), primary_key=True),
    Column("name", String(63), primary_key=True),
    Column("arn", String(256), nullable=False),
    Column("endpoint_name", String(63), nullable=False, index=True),
    Column("creation_time", Float, nullable=False, index=True),
    Column("spec", JSON, nullable=False),
)

monitoring_schedules = Table(
    "monitoring_schedules",
    metadata,
    Column("name", String(63), primary_key=True),
    Column("arn", String(256), nullable=False),
    Column("generation", String(32), nullable=False, unique=True),
    Column("status", String(32), nullable=False, index=True),
    Column("monitoring_type", String(32), nullable=False),
    Column("endpoint_name", String(63), nullable=False),
    Column("job_definition_name", String(63), nullable=True),
    Column("creation_time", Float, nullable=False, index=True),
    Column("last_modified_time", Float, nullable=False),
    Column("failure_reason", String(1024), nullable=True),
    Column("spec", JSON, nullable=False),
    UniqueConstraint(
        "endpoint_name", "monitoring_type", name="uq_monitoring_schedules_endpoint_type"
    ),
)

monitoring_executions = Table(
    "monitoring_executions",
    metadata,
    Column("name", String(63), primary_key=True),  # the execution's ProcessingJobName
    Column("schedule_name", String(63), nullable=False, index=True),
    Column("schedule_generation", String(32), nullable=False),
    Column("scheduled_time", Float, nullable=False),
    Column("window_start", Float, nullable=False),
    Column("window_end", Float, nullable=False),
    Column("status", String(32), nullable=False, index=True),
    Column("monitoring_type", String(32), nullable=False),
    Column("endpoint_name", String(63), nullable=False, index=True),
    Column("job_definition_name", String(63), nullable=True),
    Column("creation_time", Float, nullable=False, index=True),
    Column("last_modified_time", Float, nullable=False),
    Column("failure_reason", String(1024), nullable=True),
    Column("report_uri", String(1024), nullable=True),
    Column("job", JSON, nullable=False),  # the job definition as it was when the run began
    UniqueConstraint(
        "schedule_generation", "scheduled_time", name="uq_monitoring_executions_window"
    ),
)

# Several servers on one database (docs/scale-out-servers.md): each server's lease, renewed every
# third of KILN_LEASE_SECONDS; a lease past ``expires_at`` is a dead server's. Each endpoint's
# owner (the one server whose controller runs its replicas), a generation that every API change
# bumps (the owner polls it), and the replicas' addresses the owner publishes for the others.
server_leases = Table(
    "server_leases",
    metadata,
    Column("server_id", String(64), primary_key=True),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", Float, nullable=False),
    Column("renewed_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False, index=True),
)

endpoint_owners = Table(
    "endpoint_owners",
    metadata,
    Column("endpoint", String(63), primary_key=True),
    Column("owner", String(64), nullable=False, index=True),
    Column("generation", Integer, nullable=False),
    Column("route", JSON(none_as_null=True), nullable=True),
    Column("route_version", Integer, nullable=False),
)
training_jobs.append_column(Column("owner", String(64), nullable=True, index=True))

# The log store shared by every server on one database (KILN_LOG_STORE=database, docs/logs.md).
# A stream's ``stored_bytes`` is its end: the next event starts there. ``start_byte``/``end_byte``
# are the byte offsets the files store would give the same events, so tokens mean the same thing.
log_groups = Table(
    "log_groups",
    metadata,
    Column("name", String(512), primary_key=True),
    Column("creation_time", BigInteger, nullable=False),
)

log_streams = Table(
    "log_streams",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("group_name", String(512), nullable=False),
    Column("name", String(512), nullable=False),
    Column("creation_time", BigInteger, nullable=False),
    Column("first_event_timestamp", BigInteger, nullable=True),
    Column("last_event_timestamp", BigInteger, nullable=True),
    Column("last_ingestion_time", BigInteger, nullable=True),
    Column("stored_bytes", BigInteger, nullable=False),
    UniqueConstraint("group_name", "name", name="uq_log_streams_group_name"),
)

log_events = Table(
    "log_events",
    metadata,
    Column("stream_id", Integer, primary_key=True),
    Column("start_byte", BigInteger, primary_key=True),  # reading by offset: the primary key
    Column("end_byte", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("ingestion_time", BigInteger, nullable=False),
    Column("message", Text, nullable=False),
    Index("ix_log_events_stream_time", "stream_id", "timestamp", "start_byte"),  # by time
)
