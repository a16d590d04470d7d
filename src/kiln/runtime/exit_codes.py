"""The model server's exit codes, apart so that the server reads them without its imports."""

EXIT_LOAD_FAILED = 2
"""The user's module failed to import, or the model to load."""
EXIT_BIND_FAILED = 3
"""The address could not be bound."""
