"""Models of the studies app (issue 11)."""
