"""Adapters for the ports the services define: how Kiln reaches what runs outside it."""
