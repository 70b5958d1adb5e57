"""notify schemas."""
