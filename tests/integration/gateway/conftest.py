"""Fixtures of the gateway/executor integration tests (see `gateway_rig`)."""

from gateway_rig import rig

__all__ = ["rig"]
