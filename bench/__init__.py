"""Benchmarks (each prints a table; nothing here runs in the tests, and nothing here is imported
by them: what both need lives in devstack/):

- `bench/load/`: `make bench` (`python -m bench`), the whole platform under load;
- `bench/chaos/`: `make chaos` (`python -m bench.chaos`), faults mid-stream (harness: devstack/chaos/);
- `bench/replicas/`: `python -m bench.replicas`, 1 against 3 replicas per service;
- `bench/services/`: one service's hot path in one process (`python -m bench.services.intake`, ...).
"""
