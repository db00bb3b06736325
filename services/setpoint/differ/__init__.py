"""The differ service."""
