"""Benchmarks: `python -m bench.<name>` (each prints a table; nothing here runs in the tests)."""
