"""TODO: being written (not registered yet)."""
