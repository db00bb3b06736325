"""Builders of test data shared by the tests and the benchmarks (not used by any command).

`setpoint.testing.synthetic`: single facts (`market`, `fill_data`, ...), causal chains
(`ChainBuilder`) and whole grid-like logs (`synthetic_log`), deterministic per seed.
"""

__all__: list[str] = []
