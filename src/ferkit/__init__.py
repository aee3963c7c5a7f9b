"""ferkit: facial expression recognition toolkit."""

__version__ = "0.1.0"
