"""`make chaos` (`python -m bench.chaos`): the full chaos run; the harness is devstack/chaos/."""
