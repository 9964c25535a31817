"""One service's hot path in one process, without the rest of the stack:
`python -m bench.services.intake`, `bench.services.routing`, `bench.services.deadlines`."""
