"""The chaos harness: a stack of its own, faults injected mid-stream, and a verdict per fault.

Driven by `make chaos` (bench/chaos/) and by the suite's short run (tests/e2e/test_chaos.py):
`plan` (the faults, the sizes and the report's rows), `run` (the phases), `client` (the citizens' stream), `checks` (what "nothing lost,
nothing doubled" means per appeal), `poison` (messages no handler can take) and `restart` (the
shared RabbitMQ stopped and started again, never left stopped). See docs/reliability.md.
"""
