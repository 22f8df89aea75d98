"""Benchmark suite of Walle on Ray: run it with ``python -m benchmarks``."""
