"""qslab: the platform of the national system of quality standards laboratories."""

__version__ = "0.1.0"
