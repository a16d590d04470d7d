"""Training jobs: the service, its runner and scheduler, and what a job needs on disk."""
