"""Plain-Python services: validation, state machines and the controllers that drive them."""
