"""Monitoring: metrics, captured data, ground truth and what they say."""
