"""intake schemas."""
