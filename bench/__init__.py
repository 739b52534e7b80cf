"""Benchmarks (not part of the test run): `./scripts/bench`, results in docs/BENCHMARKS.md."""
