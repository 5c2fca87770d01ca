"""Benchmarks (no pytest): ``python -m bench.bench_core [--quick]``."""
