"""Models of the risk app (issue 12)."""
