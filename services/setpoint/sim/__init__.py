"""The sim service."""
