"""Monitoring schedules: job definitions, schedules and their executions (SageMaker's API)."""
