"""Typed views (pydantic, PascalCase aliases) of the request fields the services use.

botocore's service model validates whole requests at the edge (``kiln.api.validation``); these
models only give the services typed access to the members they act on.
"""
