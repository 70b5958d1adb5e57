"""fees domain."""
