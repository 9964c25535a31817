"""`make bench` (`python -m bench`, or `python -m bench.load`): the platform's load benchmark.

`run` (the steps and main), `measure` (one level: submit, wait, read the counters and the
processes' CPU and memory), `tables` (the report, as data), `report` (progress lines, percentiles,
text and markdown tables), `gateway` (bursts through the gateway), `broker` (the raw broker test),
`system` (CPU and memory from /proc), `profile` (py-spy)."""
