"""Benchmarks: `python -m bench NAME [options]` runs `bench.NAME.main(argv)`.

Each sub-benchmark is a module of this package with `main(argv: list[str]) -> int` that
prints one JSON object; adding one needs no edit here.
"""
