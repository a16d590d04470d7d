"""Several ``kiln server`` processes on one database: leases, ownership, shared routes."""
