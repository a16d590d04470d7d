"""CloudWatch alarms on Kiln's metrics: their definitions, their evaluation, their state changes."""
