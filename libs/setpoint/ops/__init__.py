"""Operator and auditor commands behind the `setpoint` CLI (one module per command)."""
