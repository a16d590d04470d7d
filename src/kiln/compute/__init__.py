"""Compute backends: where job processes run. ``local`` runs them on this machine."""
