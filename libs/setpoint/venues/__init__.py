"""The ccxt side: exchange factory, error classification, simulator conformance."""
