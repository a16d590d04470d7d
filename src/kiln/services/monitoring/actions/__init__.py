"""Actions on monitoring and on new data: retraining rules that call a webhook and start a
training job from a stored template (issue 10's seed cycle; docs/retraining.md)."""

from kiln.services.monitoring.actions.firings import FiringRunner, TrainingJobs
from kiln.services.monitoring.actions.listener import RetrainingOnOutcomes
from kiln.services.monitoring.actions.service import RetrainingRules
from kiln.services.monitoring.actions.watcher import NewDataWatcher, store_listing
from kiln.services.monitoring.actions.webhooks import WebhookSender

__all__ = [
    "FiringRunner",
    "NewDataWatcher",
    "RetrainingOnOutcomes",
    "RetrainingRules",
    "TrainingJobs",
    "WebhookSender",
    "store_listing",
]
