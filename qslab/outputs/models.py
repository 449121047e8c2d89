"""Models of the outputs app."""
