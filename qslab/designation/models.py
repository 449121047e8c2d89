"""Models of the designation app."""
