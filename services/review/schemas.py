"""review schemas."""
