"""Hosting: models, endpoint configs, endpoints, their replicas and the data plane."""
