"""fees schemas."""
