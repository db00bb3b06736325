"""NATS wiring: subjects, codecs, telemetry propagation, the embedded server."""
