"""Helpers the suites share that are not fixtures."""
