"""The strategy service."""
