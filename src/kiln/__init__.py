"""Kiln: a self-hosted ML platform that speaks SageMaker's API."""
