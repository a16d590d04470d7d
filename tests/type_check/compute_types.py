"""Type-checker only: each compute backend is a ``Backend`` and its handles ``ProcessHandle``s."""

from __future__ import annotations

from kiln.compute.base import Backend, ProcessHandle
from kiln.compute.ray.backend import RayBackend
from kiln.compute.ray.handle import RayProcess


def ray_backend(backend: RayBackend) -> Backend:
    """RayBackend fits the seam."""
    return backend


def ray_process(process: RayProcess) -> ProcessHandle:
    """RayProcess fits the handle."""
    return process
